"""Measuring policies on the fixed held-out instances: protocol, evaluator, baselines, reports, comparison."""
