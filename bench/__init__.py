"""Benchmarks: every stage measured against a baseline taken in the same run (`make bench`).

`python -m bench.run` runs them; each stage module returns `bench.results.Record`s.
"""
