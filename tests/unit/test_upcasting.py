"""Legacy v1 envelopes are upgraded to 2.0; unknown majors are refused."""

from __future__ import annotations

import json
from pathlib import Path

import msgpack
import pytest

from hope import codec
from hope.codec import DecodeError
from hope.envelope import SCHEMA_VERSION

FIXTURE = Path(__file__).parent.parent / "fixtures" / "v1" / "events_v1.jsonl"


def v1_lines() -> list[dict]:
    return [json.loads(line) for line in FIXTURE.read_text().splitlines()]


@pytest.mark.parametrize("index", [0, 1])
def test_v1_fixture_lines_upcast_to_current_schema(index):
    """A spec-v1 event (schema 1.0 or absent, no causation/delivery fields) decodes as 2.0."""
    data = v1_lines()[index]
    env = codec.decode(msgpack.packb(data))
    assert env.schema_version == SCHEMA_VERSION
    assert env.causation_id is None and env.seq == 0 and env.publisher is None
    assert env.event_id == data["event_id"]  # the v1 id still verifies
    assert env.payload == data["payload"]


def test_unknown_major_version_is_refused_not_guessed():
    """A 3.x envelope is rejected with a message naming the version."""
    data = {**v1_lines()[0], "schema_version": "3.1"}
    with pytest.raises(DecodeError, match="unknown schema major version '3.1'"):
        codec.decode(msgpack.packb(data))


def test_garbage_version_is_refused():
    """A schema_version that is not 'major.minor' is refused."""
    data = {**v1_lines()[0], "schema_version": "banana"}
    with pytest.raises(DecodeError, match="unparseable"):
        codec.decode(msgpack.packb(data))
