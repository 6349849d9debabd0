"""``hope keys init [--force]`` and ``hope keys rotate``: the audit log's Ed25519 signing key;
``init`` also creates the gateway's scoped tokens (``keys/gateway-<scope>.token``, 0600) that do
not exist yet."""

from __future__ import annotations

import argparse

from hope.audit.keys import AuditKeyError, init_keys, rotate_keys
from hope.cli import load_config
from hope.gateway.auth import SCOPES, load_or_create_token, token_path


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("keys", parents=[common], help="audit signing keys")
    ksub = p.add_subparsers(dest="keys_command", required=True)
    nested = argparse.ArgumentParser(add_help=False)
    nested.add_argument("--state-dir", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    nested.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    i = ksub.add_parser("init", parents=[nested], help="create keys/audit.key and audit.pub")
    i.add_argument("--force", action="store_true",
                   help="replace an existing key (records it signed become unverifiable unless "
                        "its id stays pinned; prefer `rotate`)")
    ksub.add_parser("rotate", parents=[nested],
                    help="new signing key; the old public key is kept for old checkpoints")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    keys_dir = cfg.state.keys
    try:
        if args.keys_command == "init":
            signer, created = init_keys(keys_dir, force=args.force)
            print(f"{'created' if created else 'exists'}: {keys_dir / 'audit.key'}")
            for scope in SCOPES:
                path = token_path(keys_dir, scope)
                _, notes = load_or_create_token(path)
                print(f"{'created' if any('created' in n for n in notes) else 'exists'}: {path}")
        else:
            old, signer = rotate_keys(keys_dir)
            print(f"rotated: {old or '(none)'} -> {signer.key_id}")
    except AuditKeyError as exc:
        print(f"hope keys: {exc}")
        return 1
    print(f"key id: {signer.key_id}")
    pinned = cfg.audit.trusted_keys
    if signer.key_id not in pinned:
        print("pin it in the config so `hope audit verify` trusts it:\n"
              f'  [audit]\n  trusted_keys = {[*pinned, signer.key_id]!r}'.replace("'", '"'))
    return 0
