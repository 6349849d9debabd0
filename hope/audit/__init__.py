"""The audit log: hash-chained, signed, segmented JSONL per event family (see docs and CONVENTIONS)."""
