"""Benchmarks a person runs by hand (``scripts/bench``); each prints its own table."""
