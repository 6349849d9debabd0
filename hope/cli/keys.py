"""``hope keys init|rotate|vkey|enrol|revoke|list``: every principal's keys, the audit log's pin.

Layout (one directory per principal, docs/ARCHITECTURE.md "Keys and principals"):
``keys/<principal>/`` (0700) holds that principal's secrets, ``keys/public/`` what all may read.

``init`` is idempotent (``./scripts/setup`` runs it every time): it creates what is missing, the
audit writer's Ed25519 signing key (``keys/audit-writer/audit.key``, moved there from an older
``keys/audit.key`` with its id, so pins stay valid), a CURVE key pair for every supervisord
program, the event listener and ``operator`` (``keys/<p>/curve.key_secret``, enrolled as
``keys/public/<p>.curve.key``), the same principals' event-authentication key pairs
(``keys/<p>/event.key``, ``keys/public/<p>.event.pub``: :mod:`hope.eventauth.keys`), the
gateway's scoped tokens; and pins the audit key id in the
local pin file (``hope.local.toml`` beside the config, untracked). ``rotate`` makes a new audit
signing key (the old public key stays: old checkpoints stay verifiable); ``rotate --curve P`` a
new CURVE key pair for P, ``rotate --event P`` a new event key pair (peers re-derive their pair
keys within a key scan; restart P at once). ``enrol P [--public CERT]`` admits P (new CURVE and
event key pairs, or the public certificate made on another host); ``revoke P`` withdraws P's
CURVE and event keys (consumers refuse its events from their next key scan). The proxy re-reads
``keys/public/`` within one heartbeat and, when a key left, cuts every session (peers
reconnect, the revoked one is refused). ``vkey`` prints the log's C2SP verifier key.
"""

from __future__ import annotations

import argparse
import base64
from pathlib import Path

from hope.audit.checkpoints import CheckpointLines, parse_line
from hope.audit.keys import (
    AuditKeyError,
    Signer,
    init_keys,
    load_signer,
    migrate_legacy,
    private_path,
    rotate_keys,
)
from hope.audit.note import vkey
from hope.audit.pins import add_pin
from hope.audit.startup import default_origin
from hope.authority import event_principals
from hope.bus import curve
from hope.cli import load_config
from hope.config import Config
from hope.eventauth.keys import create_principal, init_principals, public_path, revoke_principal
from hope.gateway.auth import SCOPES, load_or_create_token, token_path
from hope.principals import PrincipalError, check_name, principals


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("keys", parents=[common], help="principals' keys, audit signing key")
    ksub = p.add_subparsers(dest="keys_command", required=True)
    nested = argparse.ArgumentParser(add_help=False)
    nested.add_argument("--state-dir", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    nested.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    i = ksub.add_parser("init", parents=[nested],
                        help="create every missing key; pin the audit key id locally")
    i.add_argument("--force", action="store_true",
                   help="replace an existing audit key (prefer `rotate`, which keeps the old one)")
    r = ksub.add_parser("rotate", parents=[nested],
                        help="new audit signing key (old public key kept), or --curve P")
    r.add_argument("--curve", metavar="PRINCIPAL", help="rotate this principal's CURVE key")
    r.add_argument("--event", metavar="PRINCIPAL",
                   help="rotate this principal's event-authentication key")
    ksub.add_parser("vkey", parents=[nested], help="print the log's verifier key for witnesses")
    e = ksub.add_parser("enrol", parents=[nested], help="admit a principal to the tcp bus")
    e.add_argument("principal")
    e.add_argument("--public", metavar="CERT", type=Path,
                   help="its public CURVE certificate (made on another host)")
    v = ksub.add_parser("revoke", parents=[nested],
                        help="withdraw a principal's CURVE and event keys")
    v.add_argument("principal")
    ksub.add_parser("list", parents=[nested], help="principals and their CURVE key ids")
    p.set_defaults(func=run)


def log_origin(cfg: Config, signer: Signer) -> str:
    """The origin of this instance's log: its latest checkpoint's, else the configured or
    derived one the writer will use."""
    lines = CheckpointLines.read(cfg.state.events, cfg.state.checkpoint_copy).lines()
    if lines:
        try:
            return parse_line(lines[-1], None).checkpoint.origin
        except ValueError:
            pass
    return cfg.audit.origin or default_origin(signer.key_id)


def init_all(cfg: Config, *, force: bool = False) -> Signer:
    """Create every missing key (idempotent), printing one line per file."""
    keys_dir = cfg.state.keys
    for name in migrate_legacy(keys_dir):
        print(f"moved: {keys_dir / name} into the per-principal layout (same key id)")
    signer, created = init_keys(keys_dir, force=force)
    print(f"{'created' if created else 'exists'}: {private_path(keys_dir)}")
    for principal in principals():
        keys, made = curve.create_keypair(cfg.state, principal)
        if made:
            print(f"created: {curve.secret_path(cfg.state, principal)} ({keys.key_id})")
    print(f"CURVE keys: {len(principals())} principals under {keys_dir}")
    made = [path for path, new in init_principals(keys_dir, event_principals()) if new]
    for path in made:  # event authentication (docs/SECURITY.md)
        print(f"created: {path}")
    print(f"event keys: {len(event_principals())} principals under {keys_dir}")
    for scope in SCOPES:
        path = token_path(keys_dir, scope)
        _, notes = load_or_create_token(path)
        print(f"{'created' if any('created' in n for n in notes) else 'exists'}: {path}")
    return signer


def run_curve(cfg: Config, args: argparse.Namespace) -> int:
    """enrol, revoke, rotate --curve, list."""
    state, cmd = cfg.state, args.keys_command
    if cmd == "list":
        enrolled = curve.allow_list(state)
        for key, principal in sorted(enrolled.items(), key=lambda kv: kv[1]):
            print(f"{principal:24} {curve.fingerprint(key)}")
        return 0
    principal = check_name(args.curve if cmd == "rotate" else args.principal)
    if cmd == "revoke":
        gone = curve.revoke(state, principal) + revoke_principal(state.keys, principal)
        print(f"revoked {principal}: " + (", ".join(map(str, gone)) or "no key was enrolled"))
        return 0
    if cmd == "enrol" and args.public:
        public, _ = curve.load_certificate(args.public)
        print(f"enrolled {principal}: {curve.enrol_public(state, principal, public)} "
              f"({curve.fingerprint(public)})")
        return 0
    keys, created = curve.create_keypair(state, principal, force=cmd == "rotate")
    if cmd == "enrol":  # a new principal (a program's instance) also signs its events
        create_principal(state.keys, principal)
    verb = "rotated" if cmd == "rotate" else ("enrolled" if created else "enrolled already")
    print(f"{verb} {principal}: {curve.public_path(state, principal)} ({keys.key_id}); "
          f"restart hope:{principal} to connect with it")
    return 0


def rotate_event_key(cfg: Config, principal: str) -> int:
    """``hope keys rotate --event P``: a new event key pair for P. Peers pick up the new public
    key within a key scan (0.5 s); P itself signs with the new secret once restarted, so its
    events are refused in between: restart it at once."""
    create_principal(cfg.state.keys, check_name(principal), force=True)
    print(f"rotated {principal}'s event key: {public_path(cfg.state.keys, principal)}; "
          f"restart hope:{principal} now (until then its events are refused)")
    return 0


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    keys_dir = cfg.state.keys
    try:
        if args.keys_command in ("enrol", "revoke", "list") or getattr(args, "curve", None):
            return run_curve(cfg, args)
        if getattr(args, "event", None):
            return rotate_event_key(cfg, args.event)
        if args.keys_command == "vkey":
            signer = load_signer(keys_dir)
            print(vkey(log_origin(cfg, signer), base64.b64decode(signer.public_b64)))
            return 0
        if args.keys_command == "init":
            signer = init_all(cfg, force=args.force)
        else:
            old, signer = rotate_keys(keys_dir)
            print(f"rotated: {old or '(none)'} -> {signer.key_id} (restart hope:audit-writer "
                  "to sign with it; the rotation is then recorded in the log)")
    except (AuditKeyError, curve.CurveKeyError, PrincipalError, OSError, ValueError) as exc:
        print(f"hope keys: {exc}")
        return 1
    print(f"key id: {signer.key_id}")
    path, changed = add_pin(cfg, signer.key_id)
    print(f"{'pinned in' if changed else 'pinned already in'} {path} (`hope audit verify` "
          "trusts it for this state dir)")
    return 0
