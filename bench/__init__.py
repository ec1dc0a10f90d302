"""Benchmarks: figures quoted in the README come from these scripts."""
