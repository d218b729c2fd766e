"""What a run shows a person: the learning curve, renders of packed containers, the final table."""
import os
from pathlib import Path

import jax
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from tqdm import tqdm

from purepi.env import viewer
from purepi.errors import naming
from purepi.policies.load_plan import episode_player, load_plan
from purepi.policies.search_policy import make_greedy_policy


def plot_learning_curve(records, baselines, path: Path) -> None:
  """Two panels over iterations: utilization, and the losses.

  Top: held-out greedy and search utilization (markers at the evaluations,
  95% interval bands), the rollout return of every iteration, the heuristics
  as labelled lines (the y-range follows the trained curves). Bottom: every
  loss of every iteration (policy, value, total; entropy where there is one).
  """
  figure = Figure(figsize=(9, 8), dpi=100)
  FigureCanvasAgg(figure)
  top, bottom = figure.add_subplot(2, 1, 1), figure.add_subplot(2, 1, 2, sharex=None)
  iterations = [record["iteration"] for record in records]
  returns = [record["rollout_return"] for record in records]
  top.plot(iterations, returns, color="0.6", linewidth=1, label="rollout return (training episodes)")
  shown = list(returns)
  evaluated = [record for record in records if "eval_greedy_utilization" in record]
  for name, color in (("greedy", "tab:blue"), ("search", "tab:red")):
    x = np.array([record["iteration"] for record in evaluated])
    mean = np.array([record[f"eval_{name}_utilization"] for record in evaluated], dtype=np.float64)
    ci95 = np.array([record.get(f"eval_{name}_ci95") or 0.0 for record in evaluated], dtype=np.float64)
    top.plot(x, mean, marker="o", color=color, label=f"held-out, {name}")
    top.fill_between(x, mean - ci95, mean + ci95, color=color, alpha=0.2)
    shown += list(mean)
  if shown:
    low, high = min(shown), max(shown)
    margin = max(0.1 * (high - low), 0.005)
    top.set_ylim(low - margin, high + margin)
  y_low, y_high = top.get_ylim()
  for (name, row), style in zip((baselines or {}).items(), (":", "--", "-.")):
    outside = "" if y_low <= row["mean"] <= y_high else (" (below the axis)" if row["mean"] < y_low
                                                           else " (above the axis)")
    top.axhline(row["mean"], color="k", linestyle=style, linewidth=1,
                label=f"{name} {row['mean']:.3f}{outside}")
  top.set_ylabel("volume utilization")
  top.grid(alpha=0.3)
  top.legend(loc="lower right", fontsize=8)
  for name in ("loss", "policy_loss", "value_loss", "entropy", "target_entropy"):
    values = [record.get(name) for record in records]
    if any(value is not None for value in values):
      bottom.plot(iterations, [np.nan if value is None else value for value in values], linewidth=1,
                  label=name.replace("_", " "))
  bottom.set_yscale("symlog", linthresh=1e-2)
  bottom.set_xlabel("iteration")
  bottom.set_ylabel("loss (symlog)")
  bottom.grid(alpha=0.3)
  bottom.legend(loc="upper right", fontsize=8)
  figure.tight_layout()
  temporary = path.with_name(path.stem + ".tmp.png")
  with naming(path):
    figure.savefig(temporary)
    os.replace(temporary, path)


def render_greedy_instances(env, network, params, instance_keys, directory: Path, progress: bool = False,
                            pages: bool = False):
  """Packs each instance with the greedy network; writes the final container as a PNG and, with
  `pages`, the load plan's interactive page (`LoadPlan.to_html`) beside it, both named by the instance
  and its utilization.

  Items are named by their listed lengths (a CSV's by their names), so equal items show as one kind.
  Returns the files' paths and how many of the episodes lost EMSs to full slots (`State.lost_ems`).
  """
  play = episode_player(env, make_greedy_policy(env, network, params))
  directory.mkdir(parents=True, exist_ok=True)
  paths, overflowed = [], 0
  for index in tqdm(range(len(instance_keys)), desc="renders", unit="render", leave=False,
                    disable=not progress, dynamic_ncols=True):
    states, actions, valid = play(instance_keys[index], jax.random.PRNGKey(0))
    names = getattr(env.generator, "item_names", None) or item_names_by_size(states.items)
    plan = load_plan(states, actions, valid, names, "greedy network")
    stem = directory / f"instance_{index:02d}_utilization_{plan.utilization:.3f}"
    with naming(stem.with_suffix(".png")):
      viewer.render(plan.final_state, path=str(stem.with_suffix(".png")))
    paths += [stem.with_suffix(".png")] + ([plan.to_html(stem.with_suffix(".html"))] if pages else [])
    overflowed += int(plan.final_state.lost_ems > 0)
  return paths, overflowed


def item_names_by_size(items) -> list:
  """`"L × W × H"` of each item as listed (the first of `[T + 1, I]` leaves)."""
  lengths = np.stack([np.asarray(items.x_len[0]), np.asarray(items.y_len[0]), np.asarray(items.z_len[0])], -1)
  return [" × ".join(map(str, item)) for item in lengths.astype(int)]


def format_final_table(record, baselines, num_simulations: int) -> str:
  """Markdown table: the network greedy and with search beside the heuristics.

  Columns: mean volume utilization and its 95% interval over the instances,
  the fraction of instances packed perfectly (every item placed) and the mean
  number of items placed (n/a in a baselines.json written before it was kept).
  """
  rows = [(name, {"mean": record[f"eval_{key}_utilization"], "ci95": record[f"eval_{key}_ci95"],
                  "perfect_fraction": record.get(f"eval_{key}_perfect_fraction"),
                  "items_placed": record.get(f"eval_{key}_items_placed")})
          for name, key in (("network, greedy", "greedy"),
                            (f"network + search ({num_simulations} simulations)", "search"))]
  rows += list((baselines or {}).items())
  lines = ["| policy | volume utilization | 95% CI | packed perfectly | items placed |",
           "|---|---|---|---|---|"]
  for name, row in rows:
    perfect, items = row.get("perfect_fraction"), row.get("items_placed")
    lines.append(f"| {name} | {row['mean']:.4f} | ± {row['ci95']:.4f} "
                 f"| {'n/a' if perfect is None else f'{perfect:.1%}'} "
                 f"| {'n/a' if items is None else f'{items:.2f}'} |")
  return "\n".join(lines)
