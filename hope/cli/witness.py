"""``hope witness serve|trust|forget|show``: the audit log's witness (program ``witness``).

- ``serve``: run it in the foreground (what ``services/witness.py`` does under supervisord);
- ``trust VKEY``: witness one more log (its ``hope keys vkey``), kept in
  ``<state>/witness/logs.txt``; restart the witness to load it;
- ``forget ORIGIN``: drop the checkpoint held for a log (after its operator archived it with
  ``hope audit accept``; the next push starts again from size 0);
- ``show``: the witness's name, cosigning key and what it holds.
"""

from __future__ import annotations

import argparse
import json

from hope.audit.note import NoteError, parse_vkey
from hope.cli import load_config


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("witness", parents=[common], help="the audit log's witness")
    wsub = p.add_subparsers(dest="witness_command", required=True)
    nested = argparse.ArgumentParser(add_help=False)
    nested.add_argument("--state-dir", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    nested.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    wsub.add_parser("serve", parents=[nested], help="run the witness HTTP service")
    t = wsub.add_parser("trust", parents=[nested], help="witness a log (its verifier key)")
    t.add_argument("vkey")
    f = wsub.add_parser("forget", parents=[nested], help="drop what is held for one log")
    f.add_argument("origin")
    wsub.add_parser("show", parents=[nested], help="name, key, held checkpoints")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    if args.witness_command == "serve":
        from hope.witness.http import main

        argv = ["--state-dir", str(cfg.state.root)]
        return main(argv + (["--config", str(cfg.path)] if cfg.path else []))
    from hope.witness.core import Witness

    w = Witness(cfg.state.witness, cfg.witness.logs, cfg.witness.name)
    if args.witness_command == "trust":
        try:
            origin, _, _ = parse_vkey(args.vkey)
        except NoteError as exc:
            print(f"hope witness: {exc}")
            return 1
        path = cfg.state.witness / "logs.txt"
        known = path.read_text().split() if path.exists() else []
        if args.vkey not in known:
            with open(path, "a") as fh:
                fh.write(args.vkey.strip() + "\n")
        print(f"trusting {origin} ({path}); restart the witness to load it")
        return 0
    if args.witness_command == "forget":
        if w.state.pop(args.origin, None) is None:
            print(f"hope witness: holds nothing for {args.origin}")
            return 1
        w._save()
        print(f"forgot {args.origin}; restart the witness")
        return 0
    print(json.dumps({"name": w.name, "vkey": w.vkey, "logs": sorted(w.trusted),
                      "held": {o: e["size"] for o, e in w.state.items()}}, indent=2))
    return 0
