"""purepi against the reference libraries (mctx 0.0.71, jumanji 1.1.2): parity tests and benchmarks."""
