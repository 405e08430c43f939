"""Helpers used only by tests, validation scripts and benchmarks (never by the pipeline)."""
