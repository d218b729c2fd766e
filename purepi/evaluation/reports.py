"""What a run shows a person: the learning curve, renders of packed containers, the final table."""
import os
from pathlib import Path

import jax
import numpy as np

from purepi.env import viewer
from purepi.policies.rollout import rollout
from purepi.policies.search_policy import make_greedy_policy


def plot_learning_curve(records, baselines, path: Path) -> None:
  """Held-out utilization (greedy, search; 95% CI bands) and rollout return per iteration."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  figure, axis = plt.subplots(figsize=(8, 5))
  iterations = [record["iteration"] for record in records]
  axis.plot(iterations, [record["rollout_return"] for record in records],
            color="0.6", linewidth=1, label="rollout return (training episodes)")
  evaluated = [record for record in records if "eval_greedy_utilization" in record]
  for name, color in (("greedy", "tab:blue"), ("search", "tab:red")):
    x = np.array([record["iteration"] for record in evaluated])
    mean = np.array([record[f"eval_{name}_utilization"] for record in evaluated])
    ci95 = np.array([record[f"eval_{name}_ci95"] for record in evaluated])
    axis.plot(x, mean, marker="o", color=color, label=f"held-out, {name}")
    axis.fill_between(x, mean - ci95, mean + ci95, color=color, alpha=0.2)
  for (name, row), style in zip((baselines or {}).items(), (":", "--", "-.")):
    axis.axhline(row["mean"], color="k", linestyle=style, linewidth=1, label=name)
  axis.set_xlabel("iteration")
  axis.set_ylabel("volume utilization")
  axis.grid(alpha=0.3)
  axis.legend(loc="lower right", fontsize=8)
  figure.tight_layout()
  temporary = path.with_name(path.stem + ".tmp.png")
  figure.savefig(temporary, dpi=100)
  plt.close(figure)
  os.replace(temporary, path)


def render_greedy_instances(env, network, params, instance_keys, directory: Path):
  """Packs each instance with the greedy network and renders the final container as a PNG."""
  @jax.jit
  def pack(params, keys):
    state, timestep = jax.vmap(env.reset)(keys)
    policy_fn = make_greedy_policy(env, network, params)
    state, timestep, _ = rollout(env, policy_fn, jax.random.PRNGKey(0), state, timestep,
                                 env.generator.max_num_items)
    return state, timestep.extras["volume_utilization"]

  states, utilizations = pack(params, instance_keys)
  directory.mkdir(parents=True, exist_ok=True)
  paths = []
  for index in range(len(instance_keys)):
    path = directory / f"instance_{index:02d}_utilization_{float(utilizations[index]):.3f}.png"
    viewer.render(jax.tree.map(lambda leaf: leaf[index], states), path=str(path))
    paths.append(path)
  return paths


def format_final_table(record, baselines, num_simulations: int) -> str:
  """Markdown table: the network greedy and with search beside the heuristics."""
  rows = [("network, greedy", record["eval_greedy_utilization"], record["eval_greedy_ci95"]),
          (f"network + search ({num_simulations} simulations)",
           record["eval_search_utilization"], record["eval_search_ci95"])]
  rows += [(name, row["mean"], row["ci95"]) for name, row in (baselines or {}).items()]
  lines = ["| policy | volume utilization | 95% CI |", "|---|---|---|"]
  lines += [f"| {name} | {mean:.4f} | ± {ci95:.4f} |" for name, mean, ci95 in rows]
  return "\n".join(lines)
