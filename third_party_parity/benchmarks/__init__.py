"""Benchmarks of purepi against mctx and Jumanji, in one process: `python -m third_party_parity.benchmarks`."""
