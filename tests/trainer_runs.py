"""Tiny end-to-end runs shared by the distillation and PPO trainer tests."""
import dataclasses
import json

from purepi.cli import train

# Metrics that measure time, which differ between otherwise identical runs.
TIMING_KEYS = {"wall_clock_s", "decisions_per_s", "collect_s", "update_s", "eval_s"}


def run_and_read_metrics(config, workdir, **overrides):
  """Trains `config.mode`'s method in `workdir` (as run.py would) and returns its metrics.jsonl records."""
  train.main(dataclasses.replace(config, workdir=str(workdir), **overrides))
  return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


def straight_and_resumed(config, root):
  """Run A: 2 iterations at once. Run B: 1 iteration, then resumed to 2. Returns both records."""
  straight = run_and_read_metrics(config, root / "a", num_iterations=2)
  run_and_read_metrics(config, root / "b", num_iterations=1)
  resumed = run_and_read_metrics(config, root / "b", num_iterations=2)
  return straight, resumed


def without_timings(record):
  return {name: value for name, value in record.items() if name not in TIMING_KEYS}
