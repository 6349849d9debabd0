"""Tests for hope.health.eventlistener: the supervisord eventlistener protocol."""

import io

import pytest

from hope.health.eventlistener import (
    ProtocolError,
    parse_header,
    parse_payload,
    serve,
    to_health,
)


def _event(name, body):
    data = body.encode()
    header = (f"ver:3.0 server:supervisor serial:21 pool:hope-events poolserial:10 "
              f"eventname:{name} len:{len(data)}\n").encode()
    return header + data


def test_parse_header_reads_tokens_and_length():
    """A header line gives its tokens and the payload length."""
    tokens, length = parse_header(b"ver:3.0 eventname:PROCESS_STATE_FATAL len:54\n")
    assert tokens["eventname"] == "PROCESS_STATE_FATAL" and length == 54


@pytest.mark.parametrize("line", [b"ver:3.0 eventname:X\n", b"len:abc\n", b"garbage here\n",
                                  b"len:-1\n"])
def test_bad_header_raises_protocol_error(line):
    """A header without a valid len, or with a token lacking a colon, is a ProtocolError."""
    with pytest.raises(ProtocolError):
        parse_header(line)


def test_fatal_becomes_health_fatal():
    """PROCESS_STATE_FATAL maps to a HEALTH payload with status FATAL for that service."""
    tokens, _ = parse_payload(b"processname:scanner groupname:hope from_state:BACKOFF")
    payload = to_health("PROCESS_STATE_FATAL", tokens)
    assert payload["service"] == "scanner" and payload["status"] == "FATAL"
    assert payload["group"] == "hope" and "BACKOFF" in payload["detail"]


def test_unexpected_exit_is_down_and_expected_exit_is_silent():
    """An unexpected exit is reported DOWN with the pid; an expected one is not reported."""
    bad, _ = parse_payload(b"processname:executor groupname:hope from_state:RUNNING "
                           b"expected:0 pid:2766")
    ok, _ = parse_payload(b"processname:executor groupname:hope from_state:RUNNING "
                          b"expected:1 pid:2766")
    down = to_health("PROCESS_STATE_EXITED", bad)
    assert down["status"] == "DOWN" and down["pid"] == 2766
    assert to_health("PROCESS_STATE_EXITED", ok) is None
    assert to_health("PROCESS_STATE_RUNNING", bad) is None


def test_serve_speaks_the_protocol_and_publishes():
    """serve() writes READY, answers OK per event and publishes only reportable events."""
    stdin = io.BytesIO(
        _event("PROCESS_STATE_BACKOFF", "processname:scanner groupname:hope from_state:STARTING "
               "tries:1")
        + _event("PROCESS_STATE_RUNNING", "processname:scanner groupname:hope from_state:STARTING"))
    stdout = io.BytesIO()
    published = []
    assert serve(stdin, stdout, published.append) == 2
    assert stdout.getvalue() == b"READY\nRESULT 2\nOKREADY\nRESULT 2\nOKREADY\n"
    assert [p["status"] for p in published] == ["DOWN"]


def test_publish_failure_answers_fail_so_supervisord_resends():
    """When publishing raises, the listener answers FAIL and keeps serving."""
    stdin = io.BytesIO(_event("PROCESS_STATE_FATAL", "processname:x groupname:hope "
                                                     "from_state:BACKOFF"))
    stdout = io.BytesIO()

    def broken(payload):
        raise ConnectionError("bus down")

    serve(stdin, stdout, broken, fail_pause_s=0.0)
    assert b"RESULT 4\nFAIL" in stdout.getvalue()


def test_garbage_header_gets_fail_not_a_crash():
    """A garbled header line is answered with FAIL and the loop continues."""
    stdin = io.BytesIO(b"nonsense\n" + _event("PROCESS_STATE_FATAL",
                                              "processname:x groupname:hope from_state:BACKOFF"))
    stdout = io.BytesIO()
    published = []
    assert serve(stdin, stdout, published.append) == 2
    assert stdout.getvalue().startswith(b"READY\nRESULT 4\nFAILREADY\nRESULT 2\nOK")
    assert published[0]["service"] == "x"


class _Recorder:
    """The bus client main() makes: records the principal it was made for and what it sent."""

    made: list["_Recorder"] = []

    def __init__(self, name, config):
        self.name, self.sent, self.stopped = name, [], False
        _Recorder.made.append(self)

    def start(self):
        pass

    def publish(self, event_type, payload):
        self.sent.append((self.name, event_type, payload["service"]))
        return type("Env", (), {"seq": len(self.sent)})()

    def stop(self):
        self.stopped = True


def test_main_signs_as_its_name_and_defaults_to_health_listener(tmp_path):
    """--name health-listener-2 makes the bus client for that principal; no --name: the one
    host's health-listener."""
    from hope.health.eventlistener import SOURCE, main

    fatal = _event("PROCESS_STATE_FATAL", "processname:scanner groupname:hope from_state:BACKOFF")
    _Recorder.made.clear()
    for extra in (["--name", "health-listener-2"], []):
        out = io.BytesIO()
        assert main(["--state-dir", str(tmp_path), *extra], publisher=_Recorder,
                    stdin=io.BytesIO(fatal), stdout=out) == 0
        assert out.getvalue().count(b"RESULT 2\nOK") == 1
    assert [r.sent for r in _Recorder.made] == [[("health-listener-2", "HEALTH", "scanner")],
                                                [(SOURCE, "HEALTH", "scanner")]]
    assert SOURCE == "health-listener" and all(r.stopped for r in _Recorder.made)


def test_main_refuses_a_name_that_is_no_principal(tmp_path):
    """--name 'Bad Name' is a bad config: exit 78 before any bus client is made."""
    from hope.health.eventlistener import main

    _Recorder.made.clear()
    assert main(["--state-dir", str(tmp_path), "--name", "Bad Name"], publisher=_Recorder,
                stdin=io.BytesIO(), stdout=io.BytesIO()) == 78
    assert _Recorder.made == []
