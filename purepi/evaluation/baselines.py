"""The heuristic baselines on a set of instances: the floor every learned policy must beat.

The trainer measures them once per workdir on its held-out instances
(`baselines.json`); `--mode=baselines` prints the same table.
"""
import time

import jax
import numpy as np

from purepi.evaluation.protocol import evaluate_policy, mean_with_ci95
from purepi.policies.heuristics import HEURISTICS

# An episode whose final utilization is at least this is counted as perfectly packed.
PERFECT_UTILIZATION = 1.0 - 1e-6


def evaluate_heuristics(env, instance_keys, key):
  """Plays every heuristic once on each instance.

  Each heuristic's evaluation is compiled once (timed apart from the run).

  Args:
    env: a BinPack environment.
    instance_keys: `[N, 2]` reset keys, one instance each.
    key: key for the heuristics' own randomness (only `random` uses it).

  Returns:
    `{name: {"utilizations": [N] numpy, "compile_s": float, "run_s": float}}`.
  """
  results = {}
  for name, policy_fn in HEURISTICS.items():
    evaluate = jax.jit(lambda keys, policy_key, policy_fn=policy_fn: evaluate_policy(
        env, policy_fn, keys, policy_key))
    start = time.perf_counter()
    compiled = evaluate.lower(instance_keys, key).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    utilizations = np.asarray(jax.block_until_ready(compiled(instance_keys, key)))
    run_s = time.perf_counter() - start
    results[name] = {"utilizations": utilizations, "compile_s": compile_s, "run_s": run_s}
  return results


def summarize(utilizations):
  """Mean utilization, its 95% CI half-width and the fraction packed perfectly."""
  mean, ci95 = mean_with_ci95(utilizations)
  perfect_fraction = float(np.mean(np.asarray(utilizations) >= PERFECT_UTILIZATION))
  return {"mean": mean, "ci95": ci95, "perfect_fraction": perfect_fraction}


def baseline_table(env, instance_keys, key):
  """`{name: {"mean", "ci95", "perfect_fraction"}}` of every heuristic on these instances.

  The trainer writes it to `baselines.json` for its held-out instances.
  """
  results = evaluate_heuristics(env, instance_keys, key)
  return {name: summarize(result["utilizations"]) for name, result in results.items()}


def format_table(results):
  """The `--mode=baselines` table as text, one row per heuristic."""
  header = (f"{'heuristic':<34} {'utilization':>17} {'perfect':>8} "
            f"{'episodes/s':>11} {'compile_s':>10}")
  lines = [header, "-" * len(header)]
  for name, result in results.items():
    summary = summarize(result["utilizations"])
    episodes_per_s = len(result["utilizations"]) / result["run_s"]
    lines.append(
        f"{name:<34} {summary['mean']:>8.4f} ± {summary['ci95']:<6.4f} "
        f"{summary['perfect_fraction']:>8.3f} {episodes_per_s:>11.1f} {result['compile_s']:>10.2f}")
  return "\n".join(lines)
