"""Side-by-side comparison of training runs: methods and ablations, several seeds each.

  python run.py --mode=compare --workdirs=workdirs/distill,workdirs/ppo --workdir=workdirs/comparison

Each entry of `--workdirs` is a run's workdir, or a directory of per-seed
workdirs (`seed_*`, as `--num_seeds` writes them); `purepi.evaluation.runs`
reads them and groups the runs (one group: one method or one ablation row,
its seeds together).

Writes into `--workdir`:
  comparison.png: held-out greedy (top) and search (bottom) utilization against
    training wall-clock (left) and env steps (right); per group the mean over
    seeds with a marker at each evaluation, each seed faint, the min-max band
    over seeds; the y-range is set by the trained runs, the heuristics are
    labelled lines.
  comparison.md: per group, the last evaluation's greedy and search
    utilization as the mean over seeds with its 95% t-interval over seeds (and
    the mean of the seeds' per-instance 95% intervals), the fraction of
    instances packed perfectly and the items placed (means over seeds),
    training wall-clock, env steps and collection decisions/s.
  comparison.json: the same summaries with each seed's values, and the heuristics.
"""
import json
import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from tqdm import tqdm

from purepi.errors import naming
from purepi.evaluation.protocol import mean_with_t_interval
from purepi.evaluation.runs import Run, group_runs, run_workdirs

POLICIES = ("greedy", "search")
BASELINE_LABELS = {
    "random": "random valid",
    "largest_item_deepest_bottom_left": "largest item, deepest-bottom-left",
    "tightest_fit": "tightest fit",
}
# Points of the common x grid on which seeds of one group are averaged.
NUM_GRID_POINTS = 200


def seed_band(curves):
  """Mean, min and max over seeds on a common x grid.

  Each seed's curve is linearly interpolated onto a grid spanning the x range
  that every seed covers, so the band never extrapolates.

  Args:
    curves: list of `(x, y)` arrays, x increasing.

  Returns:
    `(grid, mean, low, high)` arrays; a single point each if the seeds share no range.
  """
  start = max(x[0] for x, _ in curves)
  stop = min(x[-1] for x, _ in curves)
  grid = np.linspace(start, stop, NUM_GRID_POINTS) if stop > start else np.array([stop])
  values = np.stack([np.interp(grid, x, y) for x, y in curves])
  return grid, values.mean(axis=0), values.min(axis=0), values.max(axis=0)


def summary_row(runs):
  """The last evaluation of each seed, reduced over seeds."""
  finals = [run.eval_rows[-1] for run in runs]
  row = {"seeds": len(runs)}
  for policy in POLICIES:
    values = [final.get(f"eval_{policy}_utilization", np.nan) for final in finals]
    mean, t_interval = mean_with_t_interval(values)
    row[policy] = {
        "mean": mean, "t_interval": t_interval, "values": values,
        "instance_ci95": float(np.mean([final.get(f"eval_{policy}_ci95", np.nan) for final in finals])),
        "perfect_fraction": float(np.mean([final.get(f"eval_{policy}_perfect_fraction", np.nan)
                                           for final in finals])),
        "items_placed": float(np.mean([final.get(f"eval_{policy}_items_placed", np.nan)
                                       for final in finals])),
    }
  row["wall_clock_s"] = float(np.mean([run.rows[-1]["wall_clock_s"] for run in runs]))
  row["env_steps"] = float(np.mean([run.rows[-1]["env_steps"] for run in runs]))
  # Median over iterations, so a first iteration that includes compilation does not dominate.
  row["decisions_per_s"] = float(np.mean(
      [np.median([metrics["decisions_per_s"] for metrics in run.rows]) for run in runs]))
  return row


def format_utilization(policy_row):
  """'mean ± t-interval' over seeds (just the mean for one seed)."""
  if not np.isfinite(policy_row["mean"]):
    return "n/a"
  if len(policy_row["values"]) == 1:
    return f"{policy_row['mean']:.4f}"
  return f"{policy_row['mean']:.4f} ± {policy_row['t_interval']:.4f}"


def _percent(value):
  return "n/a" if not np.isfinite(value) else f"{value:.1%}"


def _shared_baselines(runs):
  """The baselines of the first run that has them, and whether every other run agrees."""
  with_baselines = [run for run in runs if run.baselines]
  if not with_baselines:
    return None, True
  reference = with_baselines[0].baselines
  agree = all(
      abs(run.baselines.get(name, {}).get("mean", np.nan) - reference[name]["mean"]) < 1e-9
      for run in with_baselines for name in reference)
  return reference, agree


def method_table_lines(groups, names=None):
  """The per-group table of `comparison.md` as Markdown lines; `names` relabels groups."""
  names = names or {}
  lines = [
      "| method | seeds | greedy | ± per instance | search | ± per instance | perfect greedy / search "
      "| items greedy / search | training wall-clock (s) | env steps | decisions/s |",
      "|---|---:|---|---:|---|---:|---|---|---:|---:|---:|",
  ]
  for label, runs in groups.items():
    row = summary_row(runs)
    greedy, search = row["greedy"], row["search"]
    lines.append(
        f"| {names.get(label, label)} | {row['seeds']} | {format_utilization(greedy)} "
        f"| {greedy['instance_ci95']:.4f} | {format_utilization(search)} | {search['instance_ci95']:.4f} "
        f"| {_percent(greedy['perfect_fraction'])} / {_percent(search['perfect_fraction'])} "
        f"| {greedy['items_placed']:.2f} / {search['items_placed']:.2f} "
        f"| {row['wall_clock_s']:.0f} | {row['env_steps']:.0f} | {row['decisions_per_s']:.1f} |")
  return lines


TABLE_NOTE = (
    "Utilization: the last evaluation on the held-out instances. With several seeds, the mean over "
    "seeds ± the half-width of its 95% Student-t interval over seeds; '± per instance' is the mean "
    "of the seeds' 95% intervals over the instances. Perfect: the fraction of instances with every "
    "item placed; items: the mean number placed (both means over seeds). Wall-clock and env steps: "
    "mean over seeds at the last iteration. Decisions/s: median over iterations of collection "
    "decisions/s, mean over seeds.")


def baseline_table_lines(baselines):
  """The heuristics' table of `comparison.md` as Markdown lines."""
  lines = ["| heuristic (same held-out instances) | utilization | perfect | items |", "|---|---|---|---|"]
  for name, values in baselines.items():
    items = values.get("items_placed")
    lines.append(f"| {BASELINE_LABELS.get(name, name)} "
                 f"| {values['mean']:.4f} ± {values.get('ci95', float('nan')):.4f} "
                 f"| {_percent(values.get('perfect_fraction', float('nan')))} "
                 f"| {'n/a' if items is None else f'{items:.2f}'} |")
  return lines


def comparison_markdown(groups, baselines, baselines_agree):
  """The comparison table (and the baselines) as Markdown."""
  lines = ["# Comparison", "", *method_table_lines(groups), "", TABLE_NOTE]
  if baselines:
    lines += ["", *baseline_table_lines(baselines)]
    if not baselines_agree:
      lines += ["", "Warning: the workdirs' baselines.json differ (different held-out "
                "instances?); the first workdir's are shown."]
  lines += ["", "Workdirs:"] + [f"- {label}: {', '.join(run.workdir for run in runs)}"
                                for label, runs in groups.items()]
  return "\n".join(lines) + "\n"


def comparison_json(groups, baselines):
  """The text of `comparison.json`: each group's summary (`summary_row`) and workdirs, and the heuristics."""
  record = {"groups": [{"label": label, "workdirs": [run.workdir for run in runs], **summary_row(runs)}
                       for label, runs in groups.items()],
            "baselines": baselines}
  return json.dumps(record, indent=1) + "\n"


def plot_comparison(groups, baselines, path):
  """Writes comparison.png: greedy and search utilization against wall-clock and against env steps."""
  figure = Figure(figsize=(12, 8.5), dpi=100)
  FigureCanvasAgg(figure)
  x_keys = {"wall_clock_s": ("training wall-clock (min)", 1 / 60), "env_steps": ("env steps", 1.0)}
  baseline_styles = {"random": ("0.55", ":"), "largest_item_deepest_bottom_left": ("0.35", "-."),
                     "tightest_fit": ("0.15", "--")}
  for row, policy in enumerate(POLICIES):
    plotted = []
    axes_row = []
    for column, (x_key, (x_label, scale)) in enumerate(x_keys.items()):
      axes = figure.add_subplot(2, 2, 2 * row + column + 1)
      axes_row.append(axes)
      for index, (label, runs) in enumerate(groups.items()):
        colour = f"C{index % 10}"
        curves = [run.curve(x_key, policy) for run in runs]
        curves = [(x, y) for x, y in curves if len(x)]
        if not curves:
          continue
        for x, y in curves:
          axes.plot(x * scale, y, color=colour, alpha=0.25, linewidth=0.8)
          plotted.append(y)
        grid, mean, low, high = seed_band(curves)
        axes.plot(grid * scale, mean, color=colour, linewidth=2,
                  label=f"{label} ({len(runs)} seed{'s' if len(runs) > 1 else ''})")
        markers = np.array([x for x in curves[0][0] if grid[0] <= x <= grid[-1]] or [grid[-1]])
        axes.plot(markers * scale, np.interp(markers, grid, mean), "o", color=colour, markersize=4)
        if len(curves) > 1:
          axes.fill_between(grid * scale, low, high, color=colour, alpha=0.15)
      axes.set_xlabel(x_label)
      axes.set_ylabel(f"held-out {policy} utilization")
      axes.grid(alpha=0.3)
    if plotted:
      low = min(float(np.min(y)) for y in plotted)
      high = max(float(np.max(y)) for y in plotted)
      margin = max(0.1 * (high - low), 0.005)
      for axes in axes_row:
        axes.set_ylim(low - margin, high + margin)
    for axes in axes_row:
      y_low, y_high = axes.get_ylim()
      for name, values in (baselines or {}).items():
        colour, style = baseline_styles.get(name, ("0.4", "--"))
        where = ("" if y_low <= values["mean"] <= y_high
                 else ", below the axis" if values["mean"] < y_low else ", above the axis")
        axes.axhline(values["mean"], color=colour, linestyle=style, linewidth=1,
                     label=f"{BASELINE_LABELS.get(name, name)} {values['mean']:.3f}{where}")
    axes_row[-1].legend(loc="lower right", fontsize=7)
  figure.suptitle("Held-out utilization: mean over seeds (markers at evaluations), min-max band")
  figure.tight_layout()
  with naming(path):
    figure.savefig(path)


def read_runs(workdirs, progress: bool = False):
  """`(groups, baselines, baselines_agree)` of the runs that `workdirs` name (`runs.run_workdirs`)."""
  runs = [Run(workdir) for workdir in tqdm(run_workdirs(workdirs), desc="reading runs", unit="run",
                                           leave=False, disable=not progress, dynamic_ncols=True)]
  baselines, baselines_agree = _shared_baselines(runs)
  return group_runs(runs), baselines, baselines_agree


def write_comparison(workdirs, directory, progress: bool = False):
  """Writes comparison.png, comparison.md and comparison.json for `workdirs` into `directory`.

  Returns `(markdown, plot_path, table_path)`.
  """
  groups, baselines, baselines_agree = read_runs(workdirs, progress)
  os.makedirs(directory, exist_ok=True)
  plot_path = os.path.join(directory, "comparison.png")
  table_path = os.path.join(directory, "comparison.md")
  plot_comparison(groups, baselines, plot_path)
  markdown = comparison_markdown(groups, baselines, baselines_agree)
  json_path = os.path.join(directory, "comparison.json")
  with naming(table_path), open(table_path, "w") as file:
    file.write(markdown)
  with naming(json_path), open(json_path, "w") as file:
    file.write(comparison_json(groups, baselines))
  return markdown, plot_path, table_path
