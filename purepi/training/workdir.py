"""The files of a run directory, other than checkpoints.

  config.json     the run's `Config`, checked when the run is resumed;
  metrics.jsonl   one JSON record per iteration, appended;
  baselines.json  the heuristics on the held-out instances, measured once.

Every rewrite goes through a temporary file and `os.replace`, so a reader never
sees half a file.
"""
import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Dict

from purepi import config as config_lib


def write_json(path: Path, value) -> None:
  """Writes `value` as JSON through a temporary file, so a reader never sees half a file."""
  temporary = path.with_name(path.name + ".tmp")
  temporary.write_text(json.dumps(value, indent=2) + "\n")
  os.replace(temporary, path)


def read_metrics(path: Path):
  """The records of a `metrics.jsonl`, in order (empty if the file does not exist)."""
  if not path.exists():
    return []
  return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def append_metrics(path: Path, record: Dict[str, Any]) -> None:
  with path.open("a") as file:
    file.write(json.dumps(record) + "\n")


def drop_metrics_after(path: Path, iteration: int) -> None:
  """Removes records past `iteration`, the last checkpoint, before a resumed run redoes them.

  A run stopped between a metrics line and the next checkpoint leaves records
  that the resumed run will write again (identically, since it replays the
  same RNG stream); keeping both would duplicate iterations.
  """
  records = read_metrics(path)
  kept = [record for record in records if record["iteration"] <= iteration]
  if len(kept) < len(records):
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text("".join(json.dumps(record) + "\n" for record in kept))
    os.replace(temporary, path)


def load_config(path: Path) -> config_lib.Config:
  values = json.loads(Path(path).read_text())
  for field in dataclasses.fields(config_lib.Config):
    if isinstance(values.get(field.name), list):
      values[field.name] = tuple(values[field.name])
  return config_lib.Config(**values)


# Settings a resumed run may change: how long it runs and what it reports. The
# workdir is the directory that holds the run, however its path is spelled.
RESUMABLE_CHANGES = ("num_iterations", "eval_interval", "save_interval", "num_renders", "progress",
                     "checkpoint", "tree_out", "workdirs", "num_episodes", "inspect_num_steps",
                     "workdir")


def check_resumable(stored: config_lib.Config, config: config_lib.Config) -> None:
  """Raises ValueError if `config` would continue `stored`'s workdir as a different run."""
  changed = [f"{field.name}: {getattr(stored, field.name)!r} -> {getattr(config, field.name)!r}"
             for field in dataclasses.fields(config_lib.Config)
             if field.name not in RESUMABLE_CHANGES
             and getattr(stored, field.name) != getattr(config, field.name)]
  if changed:
    raise ValueError(f"--workdir={config.workdir} holds a run with other settings "
                     f"({'; '.join(changed)}); choose another --workdir")
