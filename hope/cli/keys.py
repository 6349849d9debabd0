"""``hope keys init|rotate|vkey``: the audit log's Ed25519 signing key and its pin.

``init`` is idempotent (``./scripts/setup`` runs it every time): it creates the key pair when
missing and pins its id in the local pin file (``hope.local.toml`` beside the config,
untracked), printing where. ``rotate`` makes a new signing key, keeps the old public key (old
checkpoints stay verifiable) and pins the new id beside the old; the writer records the
rotation in the log (AUDIT_KEY_ROTATED) when it restarts with the new key. ``vkey`` prints the
log's C2SP verifier key, which a witness trusts (``hope witness trust VKEY``). ``init`` also
creates the gateway's scoped tokens (``keys/gateway-<scope>.token``, 0600) and every principal's
event key pair (``keys/<principal>/event.key``, ``keys/public/<principal>.event.pub``;
:mod:`hope.eventauth.keys`) that do not exist yet.
"""

from __future__ import annotations

import argparse
import base64

from hope.audit.checkpoints import CheckpointLines, parse_line
from hope.audit.keys import AuditKeyError, Signer, init_keys, load_signer, rotate_keys
from hope.audit.note import vkey
from hope.audit.pins import add_pin
from hope.audit.startup import default_origin
from hope.authority import PRINCIPALS
from hope.cli import load_config
from hope.config import Config
from hope.eventauth.keys import init_principals
from hope.gateway.auth import SCOPES, load_or_create_token, token_path


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("keys", parents=[common], help="audit signing keys")
    ksub = p.add_subparsers(dest="keys_command", required=True)
    nested = argparse.ArgumentParser(add_help=False)
    nested.add_argument("--state-dir", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    nested.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    i = ksub.add_parser("init", parents=[nested],
                        help="create keys/audit.key unless present; pin its id locally")
    i.add_argument("--force", action="store_true",
                   help="replace an existing key (prefer `rotate`, which keeps the old one)")
    ksub.add_parser("rotate", parents=[nested],
                    help="new signing key; the old public key is kept for old checkpoints")
    ksub.add_parser("vkey", parents=[nested], help="print the log's verifier key for witnesses")
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


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    keys_dir = cfg.state.keys
    try:
        if args.keys_command == "vkey":
            signer = load_signer(keys_dir)
            print(vkey(log_origin(cfg, signer), base64.b64decode(signer.public_b64)))
            return 0
        if args.keys_command == "init":
            signer, created = init_keys(keys_dir, force=args.force)
            print(f"{'created' if created else 'exists'}: {keys_dir / 'audit.key'}")
            for scope in SCOPES:
                path = token_path(keys_dir, scope)
                _, notes = load_or_create_token(path)
                print(f"{'created' if any('created' in n for n in notes) else 'exists'}: {path}")
            for path, made in init_principals(keys_dir, PRINCIPALS):  # event authentication
                print(f"{'created' if made else 'exists'}: {path}")
        else:
            old, signer = rotate_keys(keys_dir)
            print(f"rotated: {old or '(none)'} -> {signer.key_id} (restart hope:audit-writer "
                  "to sign with it; the rotation is then recorded in the log)")
    except AuditKeyError as exc:
        print(f"hope keys: {exc}")
        return 1
    print(f"key id: {signer.key_id}")
    path, changed = add_pin(cfg, signer.key_id)
    print(f"{'pinned in' if changed else 'pinned already in'} {path} (`hope audit verify` "
          "trusts it for this state dir)")
    return 0
