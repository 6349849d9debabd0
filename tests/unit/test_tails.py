"""The shared torn-tail helper: frame and line boundaries, evidence kept, the file cut."""

from __future__ import annotations

from pathlib import Path

from hope.tails import frame, keep_tail, line_end, read_frames, read_quarantined


def test_read_frames_stops_at_a_torn_frame() -> None:
    """Whole frames are returned with offsets; the end is that of the last whole frame."""
    data = frame(b"one") + frame(b"two") + frame(b"three")[:-2]
    frames, end = read_frames(data)
    assert frames == [(0, b"one"), (7, b"two")] and end == 14


def test_line_end_with_and_without_a_validator() -> None:
    """A line without newline is torn; a validator also refuses complete trailing lines."""
    data = b'{"a":1}\n{"a":2}\n\0\0\0\n{"a"'
    assert line_end(data) == len(data) - 4
    assert line_end(data, lambda raw: raw.startswith(b"{")) == 16


def test_keep_tail_keeps_every_byte_and_cuts(tmp_path: Path) -> None:
    """A tail bigger than one quarantine frame is kept whole; the file ends at the good offset."""
    path = tmp_path / "log"
    tail = b"x" * 200_000
    path.write_bytes(b"good\n" + tail)
    assert keep_tail(path, path.read_bytes(), 5, tmp_path / "q", "log", "torn") == tail
    assert path.read_bytes() == b"good\n"
    (kept,) = read_quarantined(tmp_path / "q", "log")
    assert kept["data"] == tail and kept["where"] == f"{path}:@5"
    assert keep_tail(path, path.read_bytes(), 5, tmp_path / "q", "log", "torn") == b""
