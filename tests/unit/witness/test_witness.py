"""The witness: add-checkpoint per C2SP tlog-witness (200/400/403/404/409/422), persistence,
the HTTP service and the writer's pusher against it."""

from __future__ import annotations

import asyncio
import base64

from aiohttp.test_utils import TestServer

from hope.audit.config import AuditConfig
from hope.audit.note import cosigned_by, parse_vkey, vkey
from hope.audit.witness_client import SIZE_TYPE, WitnessClient, request_body
from hope.audit.witness_push import WitnessPusher
from hope.audit.writer import AuditWriter
from hope.clock import ManualClock
from hope.witness.core import Witness
from hope.witness.http import make_app
from tests.helpers import ev, make_state


class Log:
    """A real audit writer whose checkpoints are offered to a witness."""

    def __init__(self, checkpoint_every: int = 2) -> None:
        self.state = make_state()
        self.w = AuditWriter(self.state, AuditConfig(checkpoint_every_records=checkpoint_every),
                             ManualClock())
        self.seq = 0

    def grow(self, n: int):
        for _ in range(n):
            self.seq += 1
            self.w.append(ev(self.seq))
        self.w.sync()
        self.w.checkpoint()
        self.w.sync()
        return self.w.durable_checkpoint

    @property
    def vkey(self) -> str:
        return vkey(self.w.origin, base64.b64decode(self.w.signer.public_b64))


def test_add_checkpoint_status_codes_and_cosignature(tmp_path) -> None:
    """First checkpoint from 0 is cosigned; a stale old size is 409 with the held size; a bad
    proof 422; unknown origin 404; another key 403; garbage 400; state survives a restart."""
    log = Log()
    wit = Witness(tmp_path / "w", [log.vkey])
    cp1 = log.grow(3)
    status, _, line = wit.add_checkpoint(request_body(0, [], cp1.note))
    assert status == 200 and line.startswith("\u2014 hope-witness/".encode())
    _, _, key = parse_vkey(wit.vkey)
    assert cosigned_by(cp1.note + line, wit.name, key) is not None
    cp2 = log.grow(4)
    assert wit.add_checkpoint(request_body(0, [], cp2.note))[:2] == (409, SIZE_TYPE)
    assert wit.add_checkpoint(request_body(0, [], cp2.note))[2] == b"3\n"
    bad = [b"\0" * 32] * len(log.w.tree.consistency_proof(3, 7))
    assert wit.add_checkpoint(request_body(3, bad, cp2.note))[0] == 422
    good = log.w.tree.consistency_proof(3, 7)
    assert wit.add_checkpoint(request_body(3, good, cp2.note))[0] == 200
    assert wit.add_checkpoint(b"nonsense")[0] == 400
    other = Log()
    assert wit.add_checkpoint(request_body(0, [], other.grow(1).note))[0] == 404
    forged = Witness(tmp_path / "w2", [vkey(log.w.origin, b"\1" * 32)])
    assert forged.add_checkpoint(request_body(0, [], cp1.note))[0] == 403
    again = Witness(tmp_path / "w", [log.vkey])
    assert again.name == wit.name and again.state[log.w.origin]["size"] == 7


def test_same_size_other_root_is_a_conflict(tmp_path) -> None:
    """A fork at the held size (same size, another root) is refused with 409."""
    a, b = Log(), Log()
    b.w.origin = a.w.origin  # same origin, other history, same key: a fork by the log itself
    b.w.signer = a.w.signer
    wit = Witness(tmp_path / "w", [a.vkey])
    assert wit.add_checkpoint(request_body(0, [], a.grow(2).note))[0] == 200
    status, ctype, body = wit.add_checkpoint(request_body(2, [], b.grow(2).note))
    assert (status, ctype, body) == (409, SIZE_TYPE, b"2\n")


async def test_http_service_and_the_writers_pusher(tmp_path) -> None:
    """The pusher learns the held size from a 409, sends a proof, and the witness's GET
    returns the cosigned checkpoint; a witness that is down is reported, not raised."""
    log = Log()
    wit = Witness(tmp_path / "w", [log.vkey])
    server = TestServer(make_app(wit))
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    try:
        cp = log.grow(3)
        wit.add_checkpoint(request_body(0, [], cp.note))  # someone pushed size 3 before
        alerts: list[dict] = []

        async def alert(p: dict) -> None:
            alerts.append(p)

        pusher = WitnessPusher(log.w, [f"{url} {wit.vkey}"], _Log(), alert)
        log.grow(5)
        await pusher.push()
        assert pusher.status[url]["ok"] and pusher.held[url] == 8
        client = WitnessClient(url, wit.vkey)
        note = await asyncio.to_thread(client.latest, log.w.origin)
        assert cosigned_by(note, client.name, client.public) is not None
        assert await asyncio.to_thread(client.latest, "nobody") is None
        down = WitnessPusher(log.w, ["http://127.0.0.1:9"], _Log(), alert)
        await down.push()
        assert down.status["http://127.0.0.1:9"]["ok"] is False and alerts[0]["kind"]
        assert down.snapshot()["witnesses_ok"] is False
    finally:
        await server.close()


class _Log:
    def error(self, *a, **k) -> None:
        pass

    warning = error
