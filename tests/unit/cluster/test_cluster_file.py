"""The cluster file: check refuses what must not be deployed; render writes configs that load."""

from __future__ import annotations

import configparser
import json
import tomllib
from pathlib import Path

import pytest

from hope.bus import curve
from hope.cli.cluster import template_programs
from hope.cluster import toml_text
from hope.cluster.check import problems
from hope.cluster.render import render_host
from hope.cluster.spec import ClusterError, load
from hope.config import load as load_config
from hope.paths import StatePaths

PROGRAMS = {"a": ["proxy", "health-monitor"], "b": ["proxy-2", "audit-writer", "audit-reader"],
            "c": ["decision-engine", "executor", "scanner-1", "scanner-2"]}


def write(tmp: Path, programs: dict[str, list[str]] = PROGRAMS, extra: str = "",
          base: str = "[decision]\nmax_open_positions = 2\n", keys: bool = True) -> Path:
    (tmp / "base.toml").write_text(base)
    (tmp / "keys" / "public").mkdir(parents=True, exist_ok=True)
    names = [p for ps in programs.values() for p in ps] + ["health-listener", "operator"]
    for name in names if keys else []:
        curve.create_keypair(StatePaths.at(tmp), name)
    hosts = "".join(f'[hosts.{h}]\naddress = "10.0.0.{i}"\nstate_dir = "{tmp / h}"\n'
                    f"programs = {json.dumps(p)}\n" for i, (h, p) in enumerate(programs.items(), 1))
    path = tmp / "cluster.toml"
    path.write_text('[cluster]\nconfig = "base.toml"\nkeys = "keys"\n' + hosts
                    + '[programs.scanner-1]\nconfig = { scanner = { shard = "1/2" } }\n'
                    + '[programs.scanner-2]\nconfig = { scanner = { shard = "2/2" } }\n' + extra)
    return path


def test_a_sound_cluster_has_no_problems(tmp_path: Path):
    """Three hosts, two proxies, every key present: nothing to refuse."""
    assert problems(load(write(tmp_path)), template_programs()) == []


def test_single_instance_programs_assigned_twice_are_refused(tmp_path: Path):
    """A second executor (an instance) and the audit writer on two hosts are both named."""
    programs = {"a": ["proxy", "audit-writer", "executor-2"], "b": ["audit-writer-2"],
                "c": ["executor"]}
    found = problems(load(write(tmp_path, programs)), template_programs())
    assert any("audit-writer must run once" in p and "a:audit-writer" in p for p in found), found
    assert any("executor must run once" in p and "a:executor-2" in p for p in found), found


def test_the_same_name_on_two_hosts_and_unknown_programs_are_refused(tmp_path: Path):
    """Service names are cluster-wide; a program the template lacks is named."""
    programs = {"a": ["proxy", "gateway"], "b": ["gateway"], "c": ["frobnicator"]}
    found = problems(load(write(tmp_path, programs)), template_programs())
    assert any("'gateway' is assigned 2 times" in p for p in found), found
    assert any("'frobnicator'" in p and "supervisord.conf does not have" in p for p in found)


def test_missing_keys_are_named_per_program(tmp_path: Path):
    """A program without its CURVE secret or public certificate: refused, naming the file."""
    path = write(tmp_path)
    (tmp_path / "keys" / "executor" / "curve.key_secret").unlink()
    (tmp_path / "keys" / "public" / "scanner-2.curve.key").unlink()
    found = problems(load(path), template_programs())
    assert any("'executor' has no key" in p and "executor/curve.key_secret" in p for p in found)
    (tmp_path / "keys" / "operator" / "curve.key_secret").unlink()
    found = problems(load(path), template_programs())
    assert any("'operator' has no key" in p for p in found), found
    assert any("public/scanner-2.curve.key" in p for p in found), found


def test_an_engine_away_from_the_log_needs_the_audit_reader(tmp_path: Path):
    """The decision engine on c, the audit writer on b without audit-reader: refused."""
    programs = {**PROGRAMS, "b": ["proxy-2", "audit-writer"]}
    found = problems(load(write(tmp_path, programs)), template_programs())
    assert any("add audit-reader to hosts.b.programs" in p for p in found), found


def test_endpoints_no_host_binds_are_refused(tmp_path: Path):
    """No proxy at all, and a base config naming a proxy address no host binds."""
    found = problems(load(write(tmp_path, {"a": ["executor"]})), template_programs())
    assert any("nothing binds the bus" in p for p in found), found
    path = write(tmp_path, base='[bus]\nproxy_hosts = ["10.0.0.1", "10.9.9.9"]\n')
    found = problems(load(path), template_programs())
    assert any("no host binds 10.9.9.9" in p for p in found), found


def test_bad_cluster_files_name_the_key(tmp_path: Path):
    """An unknown key, a host without an address, a bad program name: ClusterError by key."""
    for text, key in (('[hosts.a]\naddress = "1.2.3.4"\ncolour = 1\n', "colour"),
                      ("[hosts.a]\nprograms = []\n", "address"),
                      ('[hosts.a]\naddress = "1.2.3.4"\nprograms = ["Bad Name"]\n', "programs")):
        (tmp_path / "c.toml").write_text(text)
        with pytest.raises(ClusterError, match=key):
            load(tmp_path / "c.toml")


def test_render_writes_a_host_config_that_loads_with_its_bus_keys(tmp_path: Path):
    """Host c's hope.toml: tcp, its own address, both proxies, host name, the base's keys; the
    scanners' shards in their own configs; market-clock publishers include both scanners."""
    cluster = load(write(tmp_path))
    out = render_host(cluster, "c")
    cfg = load_config(out.config, tmp_path / "c")
    assert cfg.bus.transport == "tcp" and cfg.bus.tcp_host == "10.0.0.3"
    assert cfg.bus.proxy_hosts == ["10.0.0.1", "10.0.0.2"] and cfg.hope.host == "c"
    assert cfg.decision.max_open_positions == 2 and cfg.audit.reader == "bus"
    assert load_config(render_host(cluster, "b").config, tmp_path / "b").audit.reader == "local"
    assert {"scanner", "scanner-1", "scanner-2"} <= set(cfg.market_clock.publishers)
    assert set(cfg.health.required) == {"audit-writer", "decision-engine", "executor",
                                        "scanner-1", "scanner-2"}
    shard = load_config(out.program_configs["scanner-2"], tmp_path / "c")
    assert shard.scanner.shard == "2/2" and shard.shared_hash() == cfg.shared_hash()


def test_render_writes_supervisord_with_instances_of_template_programs(tmp_path: Path):
    """Host c's supervisord.conf: its four programs in the group, the scanners as instances with
    --name and --config, their own logs; no program of another host."""
    out = render_host(load(write(tmp_path)), "c")
    parser = configparser.RawConfigParser(inline_comment_prefixes=(";",))
    parser.read(out.supervisord)
    group = parser.get("group:hope", "programs").split(",")
    assert sorted(group) == ["decision-engine", "executor", "scanner-1", "scanner-2"]
    cmd = parser.get("program:scanner-2", "command")
    assert "services/scanner.py" in cmd and "--name scanner-2" in cmd and "hope.scanner-2.toml" in cmd
    assert parser.get("program:scanner-2", "stdout_logfile").endswith("/logs/scanner-2.log")
    assert not parser.has_section("program:proxy")
    assert f'HOPE_CONFIG="{out.config}"' in parser.get("supervisord", "environment")


def test_render_copies_only_the_hosts_keys_with_their_modes(tmp_path: Path):
    """Host c gets public/ and the secrets of its programs, the listener and the operator, not
    the audit writer's; directories 0700 (public 0755), files 0600 (public 0644)."""
    cluster = load(write(tmp_path))
    out = render_host(cluster, "c")
    keys = tmp_path / "c" / "keys"
    assert sorted(out.keys) == sorted(["public", "decision-engine", "executor", "scanner-1",
                                       "scanner-2", "health-listener", "operator"])
    assert not (keys / "audit-writer").exists() and (keys / "public" / "proxy-2.curve.key").is_file()
    assert oct((keys / "executor").stat().st_mode & 0o777) == "0o700"
    assert oct((keys / "executor" / "curve.key_secret").stat().st_mode & 0o777) == "0o600"
    assert oct((keys / "public" / "proxy.curve.key").stat().st_mode & 0o777) == "0o644"
    assert load_config(out.config, tmp_path / "c").bus.proxy_names == ["proxy", "proxy-2"]


def test_toml_text_round_trips_nested_tables():
    """What toml_text writes, tomllib reads back the same."""
    data = {"a": {"x": 1, "y": [1.5, "s"], "b": {"z": True, "t": {"k": "v"}}}, "c": {"d": {}},
            "e": {"inline": {"q": 1}, "n": "quote \" and \\ back"}}
    assert tomllib.loads(toml_text.dumps(data)) == data


def test_render_can_stage_a_host_on_the_operators_machine(tmp_path: Path):
    """--out: host c's run/ and keys/ land in the stage, their paths name c's own state dir,
    and nothing is created at that state dir here."""
    cluster = load(write(tmp_path))
    out = render_host(cluster, "c", tmp_path / "stage")
    assert out.config == tmp_path / "stage" / "run" / "hope.toml"
    assert (tmp_path / "stage" / "keys" / "executor" / "curve.key_secret").is_file()
    text = out.supervisord.read_text()
    assert f"{tmp_path / 'c'}/run/hope.scanner-1.toml" in text
    assert f'HOPE_CONFIG="{tmp_path / "c"}/run/hope.toml"' in text
    assert not (tmp_path / "c").exists()
