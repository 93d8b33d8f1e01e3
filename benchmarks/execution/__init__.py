"""Refund execution benchmark (``benchmarks/refund_execute.py`` is its entry point), split by concern."""
