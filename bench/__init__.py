"""Benchmarks: each module measures one issue's numbers; results and commands are in docs/BENCHMARKS.md."""
