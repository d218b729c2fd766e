"""Writes the generated blocks of README.md and docs/*.md from committed files.

  python docs/tables.py           # rewrite every generated block (and each result set's comparison.*)
  python docs/tables.py --check   # change nothing; name the file and line of each block that differs

A generated block sits between two comment lines:

  <!-- generated: KIND ARGUMENT -->
  ...what GENERATORS[KIND](ARGUMENT) gives...
  <!-- end generated -->

Result sets live in docs/results/<name>/: one folder per method, each holding the
runs as the program wrote them (seed_N/config.json, metrics.jsonl, baselines.json),
the `--mode=compare` output of those folders (comparison.md / .json / .png) and
provenance.md, the one line that says when, where and with which commands they ran.
Other generated blocks come from `purepi/config.py` (flag lists), from a load plan
written by `--mode=pack` (plan.json) or from a command's saved output (benchmarks).
"""
import argparse
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from purepi import config as config_lib  # noqa: E402
from purepi.cli import settings  # noqa: E402
from purepi.evaluation import compare, scaling  # noqa: E402
from purepi.evaluation.protocol import mean_with_t_interval  # noqa: E402
from purepi.evaluation.runs import run_workdirs  # noqa: E402

RESULTS = "docs/results"
DOCUMENTS = ("README.md", "WORKSPACE.md", "docs")
# An absolute path of the kind a build machine's workdirs and temporary folders have.
MACHINE_PATH = re.compile(r"""(?:^|(?<=["'`(\s=]))(/(?:work|tmp|home|root|Users|var|mnt)/[^"'`\s)]*)""")
BEGIN = re.compile(r"^<!-- generated: (\w+)(?: (\S+))? -->$")
END = "<!-- end generated -->"
METHOD_NAMES = {"distill": "search distillation (`distill.flags`)", "ppo": "PPO (`ppo.flags`)"}


def result_set_workdirs(name):
  """The workdirs of `docs/results/<name>` (relative to the repository root).

  Those its workdirs.txt lists (one per line: a set may build on another's runs), else its
  method folders in name order.
  """
  folder = os.path.join(RESULTS, name)
  if not os.path.isdir(os.path.join(ROOT, folder)):
    raise ValueError(f"no result set {folder}")
  listed = os.path.join(ROOT, folder, "workdirs.txt")
  if os.path.exists(listed):
    return open(listed).read().split()
  return [os.path.join(folder, entry) for entry in sorted(os.listdir(os.path.join(ROOT, folder)))
          if os.path.isdir(os.path.join(ROOT, folder, entry))]


def _runs(name):
  return compare.read_runs(result_set_workdirs(name))


def _interval(policy_row):
  mean, half = policy_row["mean"], policy_row["t_interval"]
  return f"{mean - half:.4f} to {mean + half:.4f}"


def summary_table(name):
  """README's table: each method's greedy and search utilization, then the heuristics."""
  groups, baselines, _ = _runs(name)
  simulations = {run.settings["eval_num_simulations"] for runs in groups.values() for run in runs}
  lines = [f"| policy | greedy | with search ({'/'.join(map(str, sorted(simulations)))} simulations) "
           "| packed perfectly (greedy / search) | training wall-clock |", "|---|---|---|---|---:|"]
  intervals = []
  for label, runs in groups.items():
    row = compare.summary_row(runs)
    greedy, search = row["greedy"], row["search"]
    lines.append(f"| {METHOD_NAMES.get(label, label)}, {row['seeds']} seed{'s' * (row['seeds'] > 1)} "
                 f"| {compare.format_utilization(greedy)} | {compare.format_utilization(search)} "
                 f"| {greedy['perfect_fraction']:.1%} / {search['perfect_fraction']:.1%} "
                 f"| {row['wall_clock_s'] / 60:.1f} min |")
    intervals.append(f"{METHOD_NAMES.get(label, label).split(' (')[0]} greedy {_interval(greedy)}, "
                     f"search {_interval(search)}")
  for baseline, values in sorted((baselines or {}).items(), key=lambda item: -item[1]["mean"]):
    lines.append(f"| {compare.BASELINE_LABELS.get(baseline, baseline)} (heuristic) | {values['mean']:.4f} "
                 f"| | {values['perfect_fraction']:.1%} | |")
  lines += ["", "Mean over seeds ± the half-width of the 95% t-interval over seeds; intervals: "
            + "; ".join(intervals) + "."]
  return lines


def methods_table(name):
  """docs/results.md's table: every column `--mode=compare` reports, and the heuristics."""
  groups, baselines, _ = _runs(name)
  names = {label: METHOD_NAMES.get(label, label) for label in groups}
  return [*compare.method_table_lines(groups, names), "", compare.TABLE_NOTE, "",
          *compare.baseline_table_lines(baselines or {})]


def seeds_table(name):
  """Each seed's last evaluation and training time."""
  groups, _, _ = _runs(name)
  lines = ["| method | seed | greedy | search | halfway greedy | training wall-clock (s) | env steps |",
           "|---|---:|---:|---:|---:|---:|---:|"]
  for label, runs in groups.items():
    for run in runs:
      final, halfway = run.eval_rows[-1], run.eval_rows[len(run.eval_rows) // 2 - 1]
      lines.append(f"| {METHOD_NAMES.get(label, label)} | {run.settings['seed']} "
                   f"| {final['eval_greedy_utilization']:.4f} | {final['eval_search_utilization']:.4f} "
                   f"| {halfway['eval_greedy_utilization']:.4f} (iteration {halfway['iteration']}) "
                   f"| {run.rows[-1]['wall_clock_s']:.0f} | {run.rows[-1]['env_steps']} |")
  return lines


def paired_difference(name):
  """One line: distillation minus PPO, greedy and search: the difference of the means over seeds, and
  the lowest distillation seed minus the highest PPO seed (positive when every seed is ahead)."""
  groups, _, _ = _runs(name)
  rows = {label: compare.summary_row(runs) for label, runs in groups.items()}
  parts = []
  for policy in compare.POLICIES:
    first, second = (rows[label][policy]["values"] for label in ("distill", "ppo"))
    low = min(first) - max(second)
    parts.append(f"{policy} {mean_with_t_interval(first)[0] - mean_with_t_interval(second)[0]:+.4f} "
                 f"(lowest distillation seed minus highest PPO seed: {low:+.4f})")
  return ["Distillation minus PPO, means over seeds: " + "; ".join(parts) + "."]


def _gnu_time(path):
  """(wall-clock seconds, peak resident GiB) from a `/usr/bin/time -v` report."""
  with open(path) as file:
    report = dict(line.strip().rsplit(": ", 1) for line in file if ": " in line)
  wall = report["Elapsed (wall clock) time (h:mm:ss or m:ss)"].split(":")
  seconds = sum(float(part) * 60 ** power for power, part in enumerate(reversed(wall)))
  return seconds, int(report["Maximum resident set size (kbytes)"]) / 2 ** 20


def whole_command_table(name):
  """Each seed's whole command (training, evaluations, heuristics, renders) from its time.txt."""
  lines = ["| method | seed | whole command | peak memory |", "|---|---:|---:|---:|"]
  for workdir in result_set_workdirs(name):
    for seed_dir in run_workdirs([workdir]):
      seconds, gib = _gnu_time(os.path.join(ROOT, seed_dir, "time.txt"))
      method = METHOD_NAMES.get(os.path.basename(workdir), os.path.basename(workdir))
      lines.append(f"| {method} | {seed_dir.rsplit('_', 1)[-1]} | {int(seconds // 60)} min "
                   f"{seconds % 60:.0f} s | {gib:.2f} GiB |")
  return lines


def flag_list(which):
  """A comma-separated list of flags from `purepi/config.py`."""
  if which == "resumable":
    names = config_lib.RESUMABLE_CHANGES
  elif which in config_lib.TRAINER_ONLY_SETTINGS:
    names = config_lib.TRAINER_ONLY_SETTINGS[which]
  elif which == "modes":
    return [", ".join(f"`{mode}`" for mode in config_lib.MODES)]
  else:
    raise ValueError(f"unknown flag list {which!r}")
  return [", ".join(f"`--{name}`" for name in names)]


# Groups of settings named once under the table of the modes' settings.
SETTING_GROUPS = (("network", settings.NETWORK), ("instances", settings.INSTANCES), ("held-out", settings.HELD_OUT),
                  ("search", settings.EVALUATION_SEARCH))


def _setting_names(names):
  """`names` as flags, a whole group of `SETTING_GROUPS` shown by the group's name."""
  names, shown = list(names), []
  for group, members in SETTING_GROUPS:
    if set(members) <= set(names):
      shown.append(f"*{group}*")
      names = [name for name in names if name not in members]
  return ", ".join(shown + [f"`--{name}`" for name in names if name != "mode"])


def mode_settings_table(_):
  """Per mode: the settings it takes from the trained run, from it unless given, from the command line."""
  lines = ["| mode | the trained run's | the trained run's unless given | the command line's |",
           "|---|---|---|---|",
           "| `distill`, `ppo` | (on resume: every setting that defines the run must match) | | every "
           "setting, but the other trainer's own |"]
  for mode, unless_given in settings.FROM_THE_TRAINED_RUN_UNLESS_GIVEN.items():
    lines.append(f"| `{mode}` | {_setting_names(settings.TRAINED_RUN_SETTINGS)} | "
                 f"{_setting_names(unless_given)} | {_setting_names(settings.ALWAYS_FROM_THE_COMMAND_LINE)} |")
  for mode, read in settings.COMMAND_LINE_ONLY.items():
    lines.append(f"| `{mode}` | | | {_setting_names(read)} |")
  lines.append("")
  lines.append("; ".join(f"*{group}*: " + ", ".join(f"`--{name}`" for name in members)
                         for group, members in SETTING_GROUPS) + ".")
  return lines


def budgets_table(name):
  """Each method at each budget of a result set, and the gap between them (`purepi.evaluation.scaling`)."""
  groups, _, _ = _runs(name)
  return scaling.budget_summary_lines(scaling.budget_points(groups))


def plan_summary(path):
  """One line from a load plan's plan.json: what was placed, the utilization, the policy."""
  with open(os.path.join(ROOT, path)) as file:
    plan = json.load(file)
  placed, unplaced = len(plan["placed"]), len(plan["did_not_fit"])
  names = sorted({item["name"] for item in plan["did_not_fit"]})
  return [f"{placed} of {placed + unplaced} items placed, {plan['utilization']:.1%} of the container's "
          f"volume ({plan['policy']}); not placed: {', '.join(names) or 'none'}."]


def command_output(path):
  """A benchmark's printed output as it was saved, in a text block."""
  with open(os.path.join(ROOT, path)) as file:
    return ["```text", *file.read().rstrip("\n").split("\n"), "```"]


def saved_markdown(path):
  """A markdown file a command wrote (a benchmark's tables), as it is."""
  with open(os.path.join(ROOT, path)) as file:
    return file.read().rstrip("\n").split("\n")


GENERATORS = {"summary": summary_table, "methods": methods_table, "seeds": seeds_table,
              "commands": whole_command_table,
              "difference": paired_difference, "flags": flag_list, "plan": plan_summary,
              "modesettings": mode_settings_table, "budgets": budgets_table,
              "output": command_output, "markdown": saved_markdown}


def documents():
  """README.md, WORKSPACE.md and every docs/*.md, relative to the repository root."""
  paths = []
  for entry in DOCUMENTS:
    if entry.endswith(".md"):
      paths.append(entry)
    else:
      paths += sorted(os.path.join(entry, name) for name in os.listdir(os.path.join(ROOT, entry))
                      if name.endswith(".md"))
  return paths


def regenerate(path):
  """`(text as it should be, [problems])` for one document; a problem is 'path:line: message'."""
  with open(os.path.join(ROOT, path)) as file:
    lines = file.read().split("\n")
  out, problems, index = [], [], 0
  while index < len(lines):
    line = lines[index]
    out.append(line)
    match = BEGIN.match(line)
    index += 1
    if not match:
      continue
    start = index
    while index < len(lines) and lines[index] != END:
      index += 1
    if index == len(lines):
      problems.append(f"{path}:{start}: generated block without '{END}'")
      break
    kind, argument = match.groups()
    try:
      if kind not in GENERATORS:
        raise ValueError(f"unknown kind {kind!r} (one of {', '.join(GENERATORS)})")
      generated = GENERATORS[kind](argument)
    except (ValueError, OSError, KeyError) as error:
      problems.append(f"{path}:{start}: {kind} {argument}: {error}")
      generated = lines[start:index]
    problems += [f"{path}:{start}: the block '{kind} {argument}' holds {found!r}, a path of the machine "
                 "that made it (write paths relative to the repository)"
                 for found in MACHINE_PATH.findall("\n".join(generated))]
    if generated != lines[start:index]:
      differing = next((offset for offset, (old, new) in enumerate(zip(lines[start:index], generated))
                        if old != new), min(len(generated), index - start))
      problems.append(f"{path}:{start + differing + 1}: the block '{kind} {argument}' differs from "
                      "what its files give (python docs/tables.py rewrites it)")
    out += generated
    out.append(END)
    index += 1
  return "\n".join(out), problems


def comparison_problems(name):
  """Whether docs/results/<name>/comparison.md and .json are what `--mode=compare` writes from its runs."""
  folder = os.path.join(RESULTS, name)
  groups, baselines, agree = _runs(name)
  expected = {"comparison.md": compare.comparison_markdown(groups, baselines, agree),
              "comparison.json": compare.comparison_json(groups, baselines)}
  methods = scaling.budget_points(groups)
  if methods:
    expected["budgets.md"] = scaling.budgets_markdown(methods)
  problems = []
  for file_name, text in expected.items():
    path = os.path.join(folder, file_name)
    if not os.path.exists(os.path.join(ROOT, path)):
      problems.append(f"{path}: missing (python run.py --mode=compare writes it)")
      continue
    with open(os.path.join(ROOT, path)) as file:
      if file.read() != text:
        problems.append(f"{path}: differs from what --mode=compare gives from {folder}'s runs")
  provenance = os.path.join(ROOT, folder, "provenance.md")
  if not os.path.exists(provenance) or len(open(provenance).read().strip().splitlines()) != 1:
    problems.append(f"{folder}/provenance.md: must exist and be one line (date, CPU, commit, commands)")
  return problems


def result_sets():
  """The result sets that hold runs (a comparison.md beside their method folders)."""
  folder = os.path.join(ROOT, RESULTS)
  return sorted(name for name in os.listdir(folder)
                if os.path.exists(os.path.join(folder, name, "comparison.md")))


def check():
  """Every problem of every document and result set (an empty list when all agree)."""
  here = os.getcwd()
  os.chdir(ROOT)  # result sets name their runs by paths relative to the repository root
  try:
    problems = []
    for path in documents():
      problems += regenerate(path)[1]
    for name in result_sets():
      problems += comparison_problems(name)
    return problems
  finally:
    os.chdir(here)


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a block differs")
  args = parser.parse_args()
  os.chdir(ROOT)
  if args.check:
    problems = check()
    print("\n".join(problems) or "every generated block agrees with its files")
    sys.exit(1 if problems else 0)
  for name in result_sets():
    compare.write_comparison(result_set_workdirs(name), os.path.join(RESULTS, name))
  for path in documents():
    text, problems = regenerate(path)
    for problem in problems:
      if "differs" not in problem:
        sys.exit(problem)
    with open(path, "w") as file:
      file.write(text)


if __name__ == "__main__":
  main()
