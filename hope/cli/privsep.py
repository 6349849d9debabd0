"""``hope privsep setup|remove|status``: privilege separation (``[hope] privilege_separation``).

``setup`` (root; ``./scripts/setup`` runs it when enabled, after ``hope keys init``) creates the
group ``hope`` and the users ``hope-<program>`` that are missing, sets the state dir's ownership
(hope/privsep.py has the table) and renders ``<state>/run/supervisord.conf`` with ``user=`` per
program, which ``./scripts/run`` then uses. It is idempotent; run it again after creating keys.
``status`` prints the mode (exit 0 when enabled, 1 when the instance runs as a single user).
``remove`` deletes the users and the group (the state dir keeps its owners' numeric ids).
"""

from __future__ import annotations

import argparse
import json

from hope import privsep
from hope.audit.pins import pin_path
from hope.cli import load_config
from hope.principals import principals


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("privsep", parents=[common], help="one OS user per program")
    psub = p.add_subparsers(dest="privsep_command", required=True)
    nested = argparse.ArgumentParser(add_help=False)
    nested.add_argument("--state-dir", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    nested.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    s = psub.add_parser("setup", parents=[nested], help="users, group, state dir ownership")
    s.add_argument("--if-enabled", action="store_true",
                   help="do nothing (exit 0) unless [hope] privilege_separation = true")
    psub.add_parser("remove", parents=[nested], help="delete the users and the group")
    psub.add_parser("status", parents=[nested], help="single user or one user per program")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    cmd = args.privsep_command
    if cmd == "status":
        print(json.dumps(privsep.mode(cfg), sort_keys=True))
        return 0 if privsep.enabled(cfg) else 1
    try:
        if cmd == "remove":
            privsep.require_root("hope privsep remove")
            privsep.remove_accounts(principals())
            print("removed the hope-* users and the group hope")
            return 0
        if not privsep.enabled(cfg):
            if args.if_enabled:
                return 0
            print("hope privsep: [hope] privilege_separation is not true in the config")
            return 1
        made = privsep.setup(cfg, pin_path(cfg))
    except privsep.PrivsepError as exc:
        print(f"hope privsep: {exc}")
        return 78
    from hope.supervisor_conf import render

    conf = render(cfg.state.root, run_as=privsep.run_as())
    print(f"accounts created: {', '.join(made) or 'none (all existed)'}")
    print(f"state dir {cfg.state.root}: ownership set; supervisord config {conf}")
    return 0
