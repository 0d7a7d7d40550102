"""Benchmarks that are not suites: side-by-side latency, reference comparisons."""
