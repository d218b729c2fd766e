"""Side-by-side comparison of training runs (search distillation, PPO, several seeds each).

  python run.py --mode=compare --workdirs=workdirs/distill,workdirs/ppo --workdir=workdirs/compare

Reads each workdir's `config.json`, `metrics.jsonl` and `baselines.json` (the
workdir contract), groups the runs by `config.json`'s `mode`, and writes into
`--workdir`:
  comparison.png: held-out greedy utilization against wall-clock and against env
    steps; per method a mean line and a min-max band over seeds, each seed faint;
    the heuristics as horizontal lines.
  comparison.md: per method, the final greedy and search utilization with 95% CI,
    wall-clock, env steps, decisions/s and the number of seeds.
"""
import collections
import json
import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from purepi.evaluation.protocol import mean_with_ci95

EVAL_KEYS = ("eval_greedy_utilization", "eval_greedy_ci95",
             "eval_search_utilization", "eval_search_ci95")
BASELINE_LABELS = {
    "random": "random valid",
    "largest_item_deepest_bottom_left": "largest item, deepest-bottom-left",
    "tightest_fit": "tightest fit",
}
# Points of the common x grid on which seeds of one method are averaged.
NUM_GRID_POINTS = 200


class Run:
  """One workdir: its method, its metrics rows, its evaluation rows, its baselines."""

  def __init__(self, workdir):
    self.workdir = workdir
    self.mode = _read_json(os.path.join(workdir, "config.json")).get("mode")
    if not self.mode:
      raise ValueError(f"{workdir}/config.json has no 'mode'")
    self.rows = _read_metrics(os.path.join(workdir, "metrics.jsonl"))
    self.eval_rows = [row for row in self.rows if "eval_greedy_utilization" in row]
    if not self.eval_rows:
      raise ValueError(f"{workdir}/metrics.jsonl has no evaluation rows "
                       f"(lines with {', '.join(EVAL_KEYS)})")
    baselines_path = os.path.join(workdir, "baselines.json")
    self.baselines = _read_json(baselines_path) if os.path.exists(baselines_path) else None

  def curve(self, x_key):
    """`(x, greedy utilization)` arrays over this run's evaluation rows."""
    x = np.array([row[x_key] for row in self.eval_rows], dtype=np.float64)
    y = np.array([row["eval_greedy_utilization"] for row in self.eval_rows], dtype=np.float64)
    return x, y


def _read_json(path):
  if not os.path.exists(path):
    raise ValueError(f"{path} does not exist")
  with open(path) as file:
    try:
      return json.load(file)
    except json.JSONDecodeError as error:
      raise ValueError(f"{path}: not valid JSON ({error})") from None


def _read_metrics(path):
  """Rows of a metrics.jsonl, one per iteration, sorted by iteration.

  A resumed run may append an iteration again (it restarts from its last
  checkpoint); the row written last wins.
  """
  if not os.path.exists(path):
    raise ValueError(f"{path} does not exist: not a training workdir")
  rows_by_iteration = {}
  with open(path) as file:
    for line_number, line in enumerate(file, start=1):
      if not line.strip():
        continue
      try:
        row = json.loads(line)
      except json.JSONDecodeError as error:
        raise ValueError(f"{path}, line {line_number}: not valid JSON ({error})") from None
      for key in ("iteration", "wall_clock_s", "env_steps", "decisions_per_s"):
        if key not in row:
          raise ValueError(f"{path}, line {line_number}: missing '{key}'")
      rows_by_iteration[row["iteration"]] = row
  if not rows_by_iteration:
    raise ValueError(f"{path} is empty")
  return [rows_by_iteration[i] for i in sorted(rows_by_iteration)]


def group_by_method(runs):
  """`{mode: [Run, ...]}` in the order methods first appear."""
  groups = collections.OrderedDict()
  for run in runs:
    groups.setdefault(run.mode, []).append(run)
  return groups


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


def _summary_row(runs):
  """Final numbers of one method; the CI is over seeds, or over instances for one seed."""
  finals = [run.eval_rows[-1] for run in runs]

  def final_with_ci(utilization_key, ci_key):
    values = [row.get(utilization_key, float("nan")) for row in finals]
    if len(values) == 1:
      return values[0], finals[0].get(ci_key, float("nan")), values
    mean, ci95 = mean_with_ci95(values)
    return mean, ci95, values

  return {
      "seeds": len(runs),
      "greedy": final_with_ci("eval_greedy_utilization", "eval_greedy_ci95"),
      "search": final_with_ci("eval_search_utilization", "eval_search_ci95"),
      "wall_clock_s": float(np.mean([run.rows[-1]["wall_clock_s"] for run in runs])),
      "env_steps": float(np.mean([run.rows[-1]["env_steps"] for run in runs])),
      # Median over iterations, so a first iteration that includes compilation does not dominate.
      "decisions_per_s": float(np.mean(
          [np.median([row["decisions_per_s"] for row in run.rows]) for run in runs])),
  }


def _format_utilization(mean, ci95, values):
  if not np.isfinite(mean):
    return "n/a"
  text = f"{mean:.4f} ± {ci95:.4f}"
  if len(values) > 1:
    text += f" ({min(values):.4f}–{max(values):.4f})"
  return text


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


def comparison_markdown(groups, baselines, baselines_agree):
  """The comparison table (and the baselines) as Markdown."""
  lines = [
      "# Comparison",
      "",
      "| method | seeds | greedy utilization | search utilization | wall-clock (s) "
      "| env steps | decisions/s |",
      "|---|---:|---|---|---:|---:|---:|",
  ]
  for mode, runs in groups.items():
    row = _summary_row(runs)
    lines.append(
        f"| {mode} | {row['seeds']} | {_format_utilization(*row['greedy'])} "
        f"| {_format_utilization(*row['search'])} | {row['wall_clock_s']:.0f} "
        f"| {row['env_steps']:.0f} | {row['decisions_per_s']:.1f} |")
  lines += [
      "",
      "Utilization: the last evaluation on the held-out instances, mean ± 95% CI "
      "(over seeds when there are several, with their min–max in brackets; over "
      "instances for a single seed). Wall-clock and env steps: mean over seeds at the "
      "last iteration. Decisions/s: median over iterations of collection decisions/s, "
      "mean over seeds.",
  ]
  if baselines:
    lines += ["", "| heuristic (same held-out instances) | utilization |", "|---|---|"]
    for name, values in baselines.items():
      lines.append(f"| {BASELINE_LABELS.get(name, name)} "
                   f"| {values['mean']:.4f} ± {values.get('ci95', float('nan')):.4f} |")
    if not baselines_agree:
      lines += ["", "Warning: the workdirs' baselines.json differ (different held-out "
                "instances?); the first workdir's are shown."]
  lines += ["", "Workdirs:"] + [f"- {mode}: {', '.join(run.workdir for run in runs)}"
                                for mode, runs in groups.items()]
  return "\n".join(lines) + "\n"


def plot_comparison(groups, baselines, path):
  """Writes comparison.png: greedy utilization against wall-clock and against env steps."""
  figure = Figure(figsize=(12, 4.8), dpi=100)
  FigureCanvasAgg(figure)
  axes_by_key = {
      "wall_clock_s": figure.add_subplot(1, 2, 1),
      "env_steps": figure.add_subplot(1, 2, 2),
  }
  x_labels = {"wall_clock_s": "training wall-clock (min)", "env_steps": "env steps"}
  x_scales = {"wall_clock_s": 1 / 60, "env_steps": 1.0}
  method_colours = [f"C{i}" for i in range(10)]
  baseline_colours = {"random": "0.55", "largest_item_deepest_bottom_left": "0.35",
                      "tightest_fit": "0.15"}
  baseline_styles = {"random": ":", "largest_item_deepest_bottom_left": "-.",
                     "tightest_fit": "--"}

  for x_key, axes in axes_by_key.items():
    scale = x_scales[x_key]
    for method_index, (mode, runs) in enumerate(groups.items()):
      colour = method_colours[method_index % len(method_colours)]
      curves = [run.curve(x_key) for run in runs]
      for x, y in curves:
        axes.plot(x * scale, y, color=colour, alpha=0.25, linewidth=0.8, marker=".", markersize=3)
      grid, mean, low, high = seed_band(curves)
      axes.plot(grid * scale, mean, color=colour, linewidth=2,
                label=f"{mode} ({len(runs)} seed{'s' if len(runs) > 1 else ''})")
      if len(runs) > 1:
        axes.fill_between(grid * scale, low, high, color=colour, alpha=0.2)
    for name, values in (baselines or {}).items():
      axes.axhline(values["mean"], color=baseline_colours.get(name, "0.4"),
                   linestyle=baseline_styles.get(name, "--"), linewidth=1,
                   label=BASELINE_LABELS.get(name, name))
    axes.set_xlabel(x_labels[x_key])
    axes.set_ylabel("held-out greedy utilization")
    axes.grid(alpha=0.3)
  axes_by_key["env_steps"].legend(loc="lower right", fontsize=8)
  figure.suptitle("Held-out greedy utilization (mean, min-max band over seeds)")
  figure.tight_layout()
  figure.savefig(path)


def write_comparison(workdirs, directory):
  """Writes comparison.png and comparison.md for `workdirs` into `directory`.

  Returns `(markdown, plot_path, table_path)`.
  """
  runs = [Run(workdir) for workdir in workdirs]
  groups = group_by_method(runs)
  baselines, baselines_agree = _shared_baselines(runs)
  os.makedirs(directory, exist_ok=True)
  plot_path = os.path.join(directory, "comparison.png")
  table_path = os.path.join(directory, "comparison.md")
  plot_comparison(groups, baselines, plot_path)
  markdown = comparison_markdown(groups, baselines, baselines_agree)
  with open(table_path, "w") as file:
    file.write(markdown)
  return markdown, plot_path, table_path
