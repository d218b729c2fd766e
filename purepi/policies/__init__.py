"""Acting in BinPack: the one rollout loop and the policies it runs (search, greedy network, heuristics)."""
