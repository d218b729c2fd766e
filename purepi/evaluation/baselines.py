"""The heuristic baselines on a set of instances: the floor every learned policy must beat.

The trainer measures them once per workdir on its held-out instances
(`baselines.json`); `--mode=baselines` prints the same table.
"""
import time

import jax
from tqdm import tqdm

from purepi.evaluation.protocol import evaluate_policy, summarize
from purepi.policies.heuristics import HEURISTICS


def evaluate_heuristics(env, instance_keys, key, progress: bool = False):
  """Plays every heuristic once on each instance.

  Each heuristic's evaluation is compiled once (timed apart from the run).

  Args:
    env: a BinPack environment.
    instance_keys: `[N, 2]` reset keys, one instance each.
    key: key for the heuristics' own randomness (only `random` uses it).

  Returns:
    `{name: {"outcome": EpisodeOutcome of numpy arrays, "compile_s": float, "run_s": float}}`.
  """
  results = {}
  for name, policy_fn in tqdm(HEURISTICS.items(), desc="heuristic baselines", unit="heuristic",
                              leave=False, disable=not progress, dynamic_ncols=True):
    evaluate = jax.jit(lambda keys, policy_key, policy_fn=policy_fn: evaluate_policy(
        env, policy_fn, keys, policy_key))
    start = time.perf_counter()
    compiled = evaluate.lower(instance_keys, key).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    outcome = jax.device_get(jax.block_until_ready(compiled(instance_keys, key)))
    run_s = time.perf_counter() - start
    results[name] = {"outcome": outcome, "compile_s": compile_s, "run_s": run_s}
  return results


def baseline_table(env, instance_keys, key, progress: bool = False):
  """`{name: summarize(...)}` of every heuristic on these instances.

  The trainer writes it to `baselines.json` for its held-out instances.
  """
  results = evaluate_heuristics(env, instance_keys, key, progress)
  return {name: summarize(result["outcome"]) for name, result in results.items()}


def format_table(results):
  """The `--mode=baselines` table as text, one row per heuristic; `overflowed`: the episodes that lost
  EMSs to full slots."""
  header = (f"{'heuristic':<34} {'utilization':>17} {'perfect':>8} {'items':>6} {'overflowed':>10} "
            f"{'episodes/s':>11} {'compile_s':>10}")
  lines = [header, "-" * len(header)]
  for name, result in results.items():
    summary = summarize(result["outcome"])
    episodes_per_s = len(result["outcome"].utilization) / result["run_s"]
    lines.append(
        f"{name:<34} {summary['mean']:>8.4f} ± {summary['ci95']:<6.4f} "
        f"{summary['perfect_fraction']:>8.3f} {summary['items_placed']:>6.2f} {summary['overflowed_episodes']:>10d} "
        f"{episodes_per_s:>11.1f} {result['compile_s']:>10.2f}")
  return "\n".join(lines)
