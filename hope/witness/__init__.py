"""The audit log's witness: keeps the latest checkpoint per log, cosigns only consistent ones."""
