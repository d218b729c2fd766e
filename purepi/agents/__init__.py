"""Agents: heuristic policies, the rollout loop, evaluation and the two trainers."""
