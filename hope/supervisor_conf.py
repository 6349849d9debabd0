"""The process configuration's single source, ``supervisord.conf`` at the checkout's root:
rendered for another state dir (tests, a second instance), and read for one program's command
(``hope.testing.Processes`` starts services outside supervisord with exactly that command).

``supervisord.conf`` and ``services/`` belong to a checkout; they are not installed with the
``hope`` package. :func:`checkout` finds them beside the package (an editable install, the
tree itself) or where ``HOPE_CHECKOUT`` points, and says so clearly when neither has them.
"""

from __future__ import annotations

import configparser
import os
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from hope.paths import StatePaths

REPO = Path(__file__).resolve().parent.parent
_SECTION = re.compile(r"(?m)^(?=\[)")
_PROGRAM = re.compile(r"^\[program:([^\]]+)\]")


def checkout() -> Path:
    """The HOPE checkout holding ``supervisord.conf`` and ``services/``."""
    root = Path(os.environ.get("HOPE_CHECKOUT") or REPO).resolve()
    if not (root / "supervisord.conf").is_file():
        where = "$HOPE_CHECKOUT" if os.environ.get("HOPE_CHECKOUT") else "beside the hope package"
        raise FileNotFoundError(
            f"no HOPE checkout at {root} ({where}): supervisord.conf and services/ are not "
            f"installed with the package; run from a checkout or set HOPE_CHECKOUT to one")
    return root


def template() -> Path:
    return checkout() / "supervisord.conf"


def _keep_programs(text: str, programs: Sequence[str], extra_names: list[str]) -> str:
    """Only the named ``[program:*]`` sections; the group lists them and ``extra_names``."""
    out = []
    for section in _SECTION.split(text):
        m = _PROGRAM.match(section)
        if m and m.group(1) not in programs:
            continue
        if section.startswith("[group:hope]"):
            kept = list(programs) + extra_names
            section = re.sub(r"(?m)^programs=.*$", "programs=" + ",".join(kept), section)
        out.append(section)
    return "".join(out)


def instance(name: str, template_program: str, args: Sequence[str] = (),
             template_path: Path | None = None) -> str:
    """The template's ``[program:<template_program>]`` section as program ``name`` (its own
    log file, ``args`` appended to its command): several scanners, a second proxy. Paths are
    left for :func:`render` to rewrite."""
    text = (template_path or template()).read_text()
    for section in _SECTION.split(text):
        m = _PROGRAM.match(section)
        if m and m.group(1) == template_program:
            break
    else:
        raise KeyError(f"no [program:{template_program}] in the template")
    section = section.replace(f"[program:{template_program}]", f"[program:{name}]", 1)
    section = section.replace(f"/logs/{template_program}.log", f"/logs/{name}.log")
    tail = " ".join(shlex.quote(a) for a in args)
    return re.sub(r"(?m)^(command=.*)$", lambda c: f"{c.group(1)} {tail}".rstrip(), section,
                  count=1)


_RUNS = re.compile(r"(?m)^\[(program|eventlistener):([^\]]+)\]\n")
SEPARATED_UMASK = "027"  # under privilege separation: group hope reads, others nothing
LISTENER_SECTION = "hope-events"  # the [eventlistener:*] of the template


def with_users(text: str, run_as: Mapping[str, str]) -> str:
    """Privilege separation: each ``[program:*]``/``[eventlistener:*]`` named in ``run_as``
    runs as that user with umask 027; supervisord's socket belongs to ``run_as["socket"]``
    (the health monitor's user: it restarts programs). ``user=`` takes effect only when
    supervisord runs as root."""

    def add(m: re.Match[str]) -> str:
        user = run_as.get(m.group(2))
        return f"{m.group(0)}user={user}\numask={SEPARATED_UMASK}\n" if user else m.group(0)

    text = _RUNS.sub(add, text)
    if "socket" in run_as:
        text = text.replace("[unix_http_server]\n",
                            f"[unix_http_server]\nchown={run_as['socket']}:root\n", 1)
    return text


def render(state_dir: Path, python: str | None = None, template_path: Path | None = None, *,
           programs: Sequence[str] | None = None, extra: str = "", out: Path | None = None,
           environment: dict[str, str] | None = None,
           run_as: Mapping[str, str] | None = None, ensure: bool = True) -> Path:
    """Write ``<state>/run/supervisord.conf`` (or ``out``) pointing every path at ``state_dir``.

    ``programs`` keeps only those of the template's programs (the event listener stays);
    ``extra`` appends sections of the caller's own (a test's probe program, a cluster host's
    program instances), already rendered, whose programs join the ``hope`` group;
    ``environment`` adds variables to every program's (e.g. ``HOPE_CONFIG``); ``run_as``
    names each program's user under privilege separation (:func:`with_users`); ``ensure``
    (default) creates the state dir's layout (not when rendering for another machine)."""
    if ensure:
        StatePaths.at(state_dir).ensure()
    source = template_path or template()
    text = source.read_text()
    if programs is not None or extra:
        names = [m.group(1) for s in _SECTION.split(extra) if (m := _PROGRAM.match(s))]
        keep = programs if programs is not None else [
            m.group(1) for s in _SECTION.split(text) if (m := _PROGRAM.match(s))]
        text = _keep_programs(text, keep, names) + ("\n" + extra if extra else "")
    if environment:
        more = "".join(f',{k}="{v}"' for k, v in environment.items())
        text = re.sub(r"(?m)^(environment=.*)$", lambda e: e.group(1) + more, text, count=1)
    if run_as:
        text = with_users(text, run_as)
    text = text.replace("%(here)s/state", str(state_dir))
    text = text.replace("%(here)s/.venv/bin/python", python or sys.executable)
    text = text.replace("%(here)s", str(source.parent))
    out = out or state_dir / "run" / "supervisord.conf"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return out


def program_names(template_path: Path | None = None) -> list[str]:
    """The ``[program:*]`` names of the template, in its order."""
    text = (template_path or template()).read_text()
    return [m.group(1) for s in _SECTION.split(text) if (m := _PROGRAM.match(s))]


def program_command(program: str, template_path: Path | None = None) -> list[str]:
    """The template's ``command`` of ``[program:<program>]`` without its interpreter, as argv
    for this Python (e.g. ``["/checkout/services/proxy.py"]``)."""
    source = template_path or template()
    parser = configparser.RawConfigParser(inline_comment_prefixes=(";",))
    parser.read(source)
    section = f"program:{program}"
    if not parser.has_section(section):
        known = [s.split(":", 1)[1] for s in parser.sections() if s.startswith("program:")]
        raise KeyError(f"{source}: no [{section}] (programs: {', '.join(known)})")
    argv = shlex.split(parser.get(section, "command").replace("%(here)s", str(source.parent)))
    return argv[1:]
