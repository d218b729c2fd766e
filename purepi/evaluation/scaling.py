"""How each method's held-out result moves with its training budget (`--budget`).

  python run.py --mode=compare --workdirs=RUNS_AT_1X,RUNS_AT_2X,RUNS_AT_4X --workdir=DIR

When the compared runs hold a method at more than one budget (the same settings but for
`--budget`), `--mode=compare` also writes into DIR:
  budgets.png: held-out greedy (left) and search (right) utilization against training
    wall-clock on a log2 axis, one line per method through its budgets, each point the mean
    over seeds with its 95% t-interval over seeds; the heuristics as lines, the blog's results
    (at about 150 times the 1x job's decisions) as marked reference lines;
  budgets.md: the same numbers as a table, and distillation minus PPO at each budget.
The wall-clock of a budget is the budget times the smallest budget's measured training
wall-clock per unit of budget: an iteration costs the same all along a run (every shape is
static), and a long run may have shared the machine, which a measured time would carry.
"""
import collections
import json

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from purepi.errors import naming
from purepi.evaluation import compare

# The blog's utilizations (4 GPUs, about 4 hours), and the method each belongs to.
BLOG_RESULTS = {"distill": 0.96, "ppo": 0.90}
METHOD_NAMES = {"distill": "search distillation", "ppo": "PPO"}
# Settings that change with the budget within one method's runs.
BUDGET_SETTINGS = ("budget", "num_iterations")


def budget_points(groups):
  """`{method: [(budget, summary_row), ...]}` in increasing budget, for each method at 2+ budgets.

  A method is a set of groups whose settings differ only in `BUDGET_SETTINGS`.
  """
  methods = collections.OrderedDict()
  for runs in groups.values():
    settings = json.loads(runs[0].group_key())
    for name in BUDGET_SETTINGS:
      settings.pop(name, None)
    key = json.dumps(settings, sort_keys=True)
    row = dict(compare.summary_row(runs), iterations=runs[0].settings["num_iterations"])
    methods.setdefault(key, (runs[0].mode, []))[1].append((float(runs[0].settings["budget"]), row))
  return collections.OrderedDict((mode, sorted(points, key=lambda point: point[0]))
                                 for mode, points in methods.values() if len(points) > 1)


def scaled_wall_clock(points):
  """Training wall-clock (s) of each point: its budget times the smallest budget's seconds per budget."""
  smallest_budget, smallest = points[0]
  per_budget = smallest["wall_clock_s"] / smallest_budget
  return [budget * per_budget for budget, _ in points]


def budget_table_lines(methods):
  """budgets.md's table: per method and budget, the results and both wall-clocks."""
  lines = ["| method | budget | iterations | seeds | greedy | search | training wall-clock, measured "
           "(min) | from the smallest budget (min) |",
           "|---|---:|---:|---:|---|---|---:|---:|"]
  for mode, points in methods.items():
    for (budget, row), scaled in zip(points, scaled_wall_clock(points)):
      lines.append(f"| {METHOD_NAMES.get(mode, mode)} | {budget:g}x | {row['iterations']} | {row['seeds']} "
                   f"| {compare.format_utilization(row['greedy'])} "
                   f"| {compare.format_utilization(row['search'])} "
                   f"| {row['wall_clock_s'] / 60:.1f} | {scaled / 60:.1f} |")
  return lines


def budget_gap_lines(methods):
  """One line: distillation minus PPO at each budget both ran, greedy and search, the difference of
  the means over seeds and whether the two 95% intervals over seeds lie apart."""
  if not {"distill", "ppo"} <= set(methods):
    return []
  ppo_rows = dict(methods["ppo"])
  parts = []
  for budget, distill_row in methods["distill"]:
    if budget not in ppo_rows:
      continue
    gaps = []
    for policy in compare.POLICIES:
      first, second = distill_row[policy], ppo_rows[budget][policy]
      if min(len(first["values"]), len(second["values"])) < 2:
        verdict = "one seed"
      else:
        (low, high), (other_low, other_high) = (
            (row["mean"] - row["t_interval"], row["mean"] + row["t_interval"]) for row in (first, second))
        verdict = "intervals apart" if low > other_high or other_low > high else "intervals overlap"
      gaps.append(f"{policy} {first['mean'] - second['mean']:+.4f} ({verdict})")
    parts.append(f"{budget:g}x: " + ", ".join(gaps))
  return ["Distillation minus PPO, means over seeds: " + "; ".join(parts) + "."] if parts else []


def budget_summary_lines(methods):
  """The budget table, then (when both methods ran at a budget) the gap line after a blank line."""
  gap = budget_gap_lines(methods)
  return [*budget_table_lines(methods), *([""] + gap if gap else [])]


def plot_budgets(methods, baselines, path):
  """Writes budgets.png (module docstring)."""
  figure = Figure(figsize=(12, 5), dpi=100)
  FigureCanvasAgg(figure)
  budgets = sorted({budget for points in methods.values() for budget, _ in points})
  for column, policy in enumerate(compare.POLICIES):
    axes = figure.add_subplot(1, 2, column + 1)
    for index, (mode, points) in enumerate(methods.items()):
      colour = f"C{index % 10}"
      minutes = np.array(scaled_wall_clock(points)) / 60
      means = np.array([row[policy]["mean"] for _, row in points])
      errors = np.array([row[policy]["t_interval"] if row["seeds"] > 1 else 0.0 for _, row in points])
      seeds = "/".join(str(row["seeds"]) for _, row in points)
      axes.errorbar(minutes, means, yerr=np.nan_to_num(errors), color=colour, marker="o", capsize=4,
                    label=f"{METHOD_NAMES.get(mode, mode)} ({seeds} seeds)")
      for budget, x, mean in zip((budget for budget, _ in points), minutes, means):
        axes.annotate(f"{budget:g}x", (x, mean), textcoords="offset points", xytext=(6, -12),
                      fontsize=8, color=colour)
      if mode in BLOG_RESULTS:
        axes.axhline(BLOG_RESULTS[mode], color=colour, linestyle=(0, (1, 3)), linewidth=1.5,
                     label=f"the blog's {METHOD_NAMES.get(mode, mode)}: {BLOG_RESULTS[mode]:.2f} "
                           "(about 150x the 1x decisions)")
    for name, values in (baselines or {}).items():
      if name != "random":
        axes.axhline(values["mean"], color="0.3", linestyle="--" if name == "tightest_fit" else "-.",
                     linewidth=1, label=f"{compare.BASELINE_LABELS.get(name, name)} {values['mean']:.3f}")
    axes.set_xscale("log", base=2)
    # One tick per budget, at the methods' mean wall-clock for it.
    per_budget = np.mean([scaled_wall_clock(points)[0] / points[0][0] for points in methods.values()]) / 60
    axes.set_xticks([budget * per_budget for budget in budgets],
                    [f"{budget:g}x\n{budget * per_budget:.0f} min" for budget in budgets])
    axes.set_xticks([], minor=True)
    axes.set_xlabel("training budget and wall-clock on 2 CPU cores (log2)")
    axes.set_ylabel(f"held-out {policy} utilization")
    axes.set_title(f"{policy}" + (" (network alone)" if policy == "greedy" else " (16 simulations)"))
    axes.grid(alpha=0.3, which="both")
    if column == 1:
      axes.legend(loc="lower right", fontsize=7)
  figure.suptitle(f"Held-out utilization against training budget ({', '.join(f'{b:g}x' for b in budgets)}): "
                  "mean over seeds, 95% t-interval over seeds")
  figure.tight_layout()
  with naming(path):
    figure.savefig(path)


def write_budgets(workdirs, directory):
  """budgets.png and budgets.md of `workdirs` in `directory`; the paths, or () with one budget per method."""
  groups, baselines, _ = compare.read_runs(workdirs)
  methods = budget_points(groups)
  if not methods:
    return ()
  plot_path, table_path = f"{directory}/budgets.png", f"{directory}/budgets.md"
  plot_budgets(methods, baselines, plot_path)
  with naming(table_path), open(table_path, "w") as file:
    file.write(budgets_markdown(methods))
  return plot_path, table_path


def budgets_markdown(methods):
  """The text of budgets.md."""
  return "\n".join(["# Budgets", "", *budget_summary_lines(methods), "", BUDGETS_NOTE]) + "\n"


BUDGETS_NOTE = (
    "Utilization: the last evaluation on the held-out instances; with several seeds, the mean over "
    "seeds ± the half-width of its 95% Student-t interval over seeds. Training wall-clock: measured, "
    "mean over seeds; and the budget times the smallest budget's measured time per unit of budget, "
    "the x-axis of budgets.png (an iteration costs the same all along a run; a long run may have "
    "shared the machine).")

