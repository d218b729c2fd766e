"""Finished training runs read back from their workdirs, and grouped into methods.

A workdir holds `config.json`, `metrics.jsonl` and `baselines.json`. A
directory of per-seed workdirs (`seed_*`, as `--num_seeds` writes them) stands
for its seeds. A run named twice, however its path is spelled, counts once.
Runs whose settings are equal apart from the seed, what a resumed run may
change (`config.RESUMABLE_CHANGES`) and the settings their trainer never reads
form one group: one method or one ablation
row. A group's label is its mode, plus the settings that tell it apart from
the other groups of the same mode.
"""
import collections
import dataclasses
import json
import os

import numpy as np

from purepi import config as config_lib
from purepi.errors import UsageError

# Settings that differ between seeds of one group, or between spellings of one run.
# `num_iterations` may change when a run is resumed, but config.json keeps the latest
# value, so it still tells budgets apart: 174 and 246 PPO iterations are two methods.
NOT_A_GROUP_SETTING = (set(config_lib.RESUMABLE_CHANGES) - {"num_iterations"}) | {"seed"}
_DEFAULT_SETTINGS = {name: value for name, value in dataclasses.asdict(config_lib.Config()).items()
                     if name != "mode"}


class Run:
  """One workdir: its settings, its metrics rows, its evaluation rows, its baselines."""

  def __init__(self, workdir):
    self.workdir = workdir
    # A setting added after the run was made is absent from its config.json; the run
    # behaved as that setting's default, so it groups with runs that state the default.
    self.settings = {**_DEFAULT_SETTINGS, **_read_json(os.path.join(workdir, "config.json"))}
    self.mode = self.settings.get("mode")
    if not self.mode:
      raise UsageError(f"{workdir}/config.json has no 'mode'")
    self.rows = _read_metrics(os.path.join(workdir, "metrics.jsonl"))
    self.eval_rows = [row for row in self.rows if "eval_greedy_utilization" in row]
    if not self.eval_rows:
      raise UsageError(f"{workdir}/metrics.jsonl has no evaluation rows "
                       "(lines with eval_greedy_utilization)")
    baselines_path = os.path.join(workdir, "baselines.json")
    self.baselines = _read_json(baselines_path) if os.path.exists(baselines_path) else None

  def group_key(self):
    ignored = NOT_A_GROUP_SETTING | config_lib.settings_ignored_by(self.mode)
    return json.dumps({name: value for name, value in sorted(self.settings.items())
                       if name not in ignored})

  def curve(self, x_key, policy):
    """`(x, utilization)` arrays of `policy` ("greedy" or "search") over this run's evaluation rows."""
    rows = [row for row in self.eval_rows if f"eval_{policy}_utilization" in row]
    x = np.array([row[x_key] for row in rows], dtype=np.float64)
    y = np.array([row[f"eval_{policy}_utilization"] for row in rows], dtype=np.float64)
    return x, y


def _read_json(path):
  if not os.path.exists(path):
    raise UsageError(f"{path} does not exist")
  with open(path) as file:
    try:
      return json.load(file)
    except json.JSONDecodeError as error:
      raise UsageError(f"{path}: not valid JSON ({error})") from None


def _read_metrics(path):
  """Rows of a metrics.jsonl, one per iteration, sorted by iteration.

  A resumed run may append an iteration again (it restarts from its last
  checkpoint); the row written last wins.
  """
  if not os.path.exists(path):
    raise UsageError(f"{path} does not exist: not a training workdir")
  rows_by_iteration = {}
  with open(path) as file:
    for line_number, line in enumerate(file, start=1):
      if not line.strip():
        continue
      try:
        row = json.loads(line)
      except json.JSONDecodeError as error:
        raise UsageError(f"{path}, line {line_number}: not valid JSON ({error})") from None
      for key in ("iteration", "wall_clock_s", "env_steps", "decisions_per_s"):
        if key not in row:
          raise UsageError(f"{path}, line {line_number}: missing '{key}'")
      rows_by_iteration[row["iteration"]] = row
  if not rows_by_iteration:
    raise UsageError(f"{path} is empty")
  return [rows_by_iteration[i] for i in sorted(rows_by_iteration)]


def _seed_workdirs(workdir):
  """The `seed_<n>` subdirectories of a directory that is not itself a run, in seed order."""
  if not os.path.isdir(workdir) or os.path.exists(os.path.join(workdir, "metrics.jsonl")):
    return []
  seeds = [entry for entry in os.scandir(workdir)
           if entry.is_dir() and entry.name.startswith("seed_") and entry.name[5:].isdigit()]
  return [entry.path for entry in sorted(seeds, key=lambda entry: int(entry.name[5:]))]


def run_workdirs(workdirs):
  """The run workdirs that `workdirs` name: each itself, or its `seed_*` subdirectories; each once."""
  found, seen = [], set()
  for workdir in workdirs:
    for run_dir in _seed_workdirs(workdir) or [workdir]:
      identity = os.path.realpath(run_dir)
      if identity not in seen:
        seen.add(identity)
        found.append(run_dir)
  return found


def group_runs(runs):
  """`{label: [Run, ...]}`, one group per distinct setting (seeds together), in order of appearance."""
  by_key = collections.OrderedDict()
  for run in runs:
    by_key.setdefault(run.group_key(), []).append(run)
  settings = {key: json.loads(key) for key in by_key}
  groups = collections.OrderedDict()
  for key, members in by_key.items():
    mode = members[0].mode
    others = [settings[other] for other in by_key if other != key and settings[other].get("mode") == mode]
    differing = sorted({name for other in others for name in settings[key]
                        if other.get(name) != settings[key].get(name)})
    label = mode + (f" ({', '.join(f'{name}={_short(settings[key][name])}' for name in differing)})"
                    if differing else "")
    groups[label] = members
  return groups


def _short(value):
  return ",".join(map(str, value)) if isinstance(value, list) else str(value)
