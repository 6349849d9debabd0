"""The in-process measure of the PRICE dedupe/journal path (python -m hope.bench.journal)."""

from __future__ import annotations

from hope.bench import journal


def test_coverage_mode_keeps_no_ids_and_writes_a_record_per_read_batch():
    """Declared idempotent, 300 PRICEs in batches of 256 leave two range records and no id;
    not declared, one record and one remembered id each."""
    out = journal.measure(n=300, passes=1, batches=(256,), heap_n=300)
    heap = out["heap"]
    assert heap["coverage"]["ids_remembered"] == 0
    assert heap["per_event"]["ids_remembered"] == 300
    by = out["by_batch"][256]
    assert by["coverage_journal_bytes"] * 50 < by["per_event_journal_bytes"]
    assert set(by) >= {"bare_us", "per_event_path_us", "coverage_path_us"}
