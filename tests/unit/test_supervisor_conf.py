"""supervisord.conf as the single source of process config: rendering, commands, the checkout."""

from __future__ import annotations

import configparser
import sys
from pathlib import Path

import pytest

from hope.supervisor_conf import checkout, program_command, render


def parsed(path: Path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(inline_comment_prefixes=(";",))
    parser.read(path)
    return parser


def test_render_points_every_path_at_the_state_dir(state_dir: Path):
    """The rendered config's sockets, logs and HOPE_STATE_DIR are in the state dir; programs run
    under this Python from the checkout's services/."""
    conf = parsed(render(state_dir))
    assert conf.get("unix_http_server", "file") == f"{state_dir}/run/supervisor.sock"
    assert f'HOPE_STATE_DIR="{state_dir}"' in conf.get("supervisord", "environment")
    assert conf.get("program:proxy", "command") == \
        f"{sys.executable} {checkout()}/services/proxy.py"
    assert "%(here)s" not in render(state_dir).read_text()


def test_render_keeps_a_subset_and_adds_the_callers_program(state_dir: Path):
    """``programs`` keeps those of the template (the event listener stays); ``extra`` programs
    join the hope group."""
    extra = "[program:probe]\ncommand=/bin/true\n"
    conf = parsed(render(state_dir, programs=["proxy", "health-monitor"], extra=extra))
    programs = sorted(s for s in conf.sections() if s.startswith("program:"))
    assert programs == ["program:health-monitor", "program:probe", "program:proxy"]
    assert conf.get("group:hope", "programs") == "proxy,health-monitor,probe"
    assert conf.has_section("eventlistener:hope-events")


def test_program_command_is_the_templates(state_dir: Path):
    """A program's command comes from the template, without its interpreter."""
    assert program_command("audit-writer") == [f"{checkout()}/services/audit_writer.py"]
    with pytest.raises(KeyError, match="no \\[program:nope\\].*programs: proxy"):
        program_command("nope")


def test_a_tree_without_the_template_is_a_clear_error(tmp_path: Path, monkeypatch):
    """From an installed package (no checkout beside it) the error says what is missing and
    how to point at a checkout."""
    monkeypatch.setenv("HOPE_CHECKOUT", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no HOPE checkout at .*HOPE_CHECKOUT"):
        checkout()
    monkeypatch.setenv("HOPE_CHECKOUT", str(Path(__file__).parents[2]))
    assert (checkout() / "services" / "proxy.py").is_file()
