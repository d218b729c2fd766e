"""The files of a run directory, other than checkpoints.

  config.json     the run's `Config`, checked when the run is resumed;
  metrics.jsonl   one JSON record per iteration, appended (and on the disk before
                  the iteration's checkpoint);
  baselines.json  the heuristics on the held-out instances, measured once;
  workdir.lock    who holds the workdir: one process at a time writes into it.

Every rewrite goes through a temporary file and `os.replace`, so a reader never
sees half a file.
"""
import contextlib
import dataclasses
import fcntl
import json
import math
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any, Dict

from purepi import config as config_lib
from purepi.errors import UsageError, naming


def write_json(path: Path, value) -> None:
  """Writes `value` as JSON through a temporary file, so a reader never sees half a file."""
  temporary = path.with_name(path.name + ".tmp")
  with naming(path):
    temporary.write_text(json.dumps(value, indent=2) + "\n")
    os.replace(temporary, path)


def read_json(path: Path, what: str):
  """The JSON value of a workdir file; UsageError naming the file if it is not valid JSON."""
  try:
    return json.loads(Path(path).read_text())
  except json.JSONDecodeError as error:
    raise UsageError(f"{path}: not valid JSON ({error}); it is not a complete {what}") from None


def _json_line(record: Dict[str, Any]) -> str:
  """One metrics line; a non-finite float (an interval over one value) is written as null."""
  finite = {name: (None if isinstance(value, float) and not math.isfinite(value) else value)
            for name, value in record.items()}
  return json.dumps(finite, allow_nan=False) + "\n"


def read_metrics(path: Path):
  """The records of a `metrics.jsonl`, in order (empty if the file does not exist).

  A last line cut short (the process stopped while writing it) is dropped with
  a warning; any other line that is not a JSON record is an error naming it.
  """
  if not path.exists():
    return []
  lines = path.read_text().splitlines()
  records = []
  for number, line in enumerate(lines, start=1):
    if not line.strip():
      continue
    try:
      records.append(json.loads(line))
    except json.JSONDecodeError:
      if number == len(lines):
        warnings.warn(f"{path}: dropping the unfinished last line {number}", RuntimeWarning, stacklevel=2)
        continue
      raise UsageError(f"{path}, line {number}: not a JSON record") from None
  return records


def recorded_through(path: Path) -> int:
  """The last iteration n such that `metrics.jsonl` holds the records of iterations 1 to n, in order
  (0 without records); a checkpoint past n lacks a record (`Checkpointer.restore_newest_readable`)."""
  through = 0
  for record in read_metrics(path):
    if record["iteration"] != through + 1:
      break
    through += 1
  return through


def append_metrics(path: Path, record: Dict[str, Any]) -> None:
  """Appends `record` and returns once it is on the disk.

  The loop saves an iteration's checkpoint only after its record, so a power
  loss cannot keep the checkpoint and lose the record (a disk that reorders
  writes anyway is caught on resume: `recorded_through`).
  """
  created = not path.exists()
  with naming(path):
    with path.open("a") as file:
      file.write(_json_line(record))
      file.flush()
      os.fsync(file.fileno())
    if created:
      _sync_directory(path.parent)


def keep_metrics_through(path: Path, iteration: int) -> None:
  """Rewrites `metrics.jsonl` with only the records up to `iteration`, the checkpoint a run resumes from.

  A run stopped between a metrics line and the next checkpoint leaves records
  (and perhaps half a line) that the resumed run will write again, identically
  since it replays the same RNG stream; keeping both would duplicate
  iterations. With no checkpoint yet, `iteration` is 0 and nothing is kept.

  The new file reaches the disk before it replaces the old one: a power loss
  could otherwise leave an empty file, and the next resume would find no
  record of any checkpoint and train every iteration again.
  """
  if not path.exists():
    return
  kept = [record for record in read_metrics(path) if record["iteration"] <= iteration]
  temporary = path.with_name(path.name + ".tmp")
  with naming(path):
    with temporary.open("w") as file:
      file.write("".join(_json_line(record) for record in kept))
      file.flush()
      os.fsync(file.fileno())
    os.replace(temporary, path)
    _sync_directory(path.parent)


def _sync_directory(path: Path) -> None:
  """Puts a directory's entries (a file created or renamed in it) on the disk, which fsync of the file does not."""
  descriptor = os.open(path, os.O_RDONLY)
  try:
    os.fsync(descriptor)
  finally:
    os.close(descriptor)


def prepare_workdir(workdir: str) -> Path:
  """The run directory, created if needed; UsageError if it cannot hold a run."""
  if not workdir.strip():
    raise UsageError("--workdir is empty: name the directory for the run's files")
  path = Path(workdir)
  if path.exists() and not path.is_dir():
    raise UsageError(f"--workdir={workdir} is a file, not a directory")
  try:
    path.mkdir(parents=True, exist_ok=True)
  except OSError as error:
    raise UsageError(f"--workdir={workdir} cannot be created ({error.strerror})") from None
  try:  # permissions do not tell (root, read-only mounts): try to write
    with tempfile.TemporaryFile(dir=path):
      pass
  except OSError as error:
    raise UsageError(f"--workdir={workdir} is not writable ({error.strerror})") from None
  return path


def load_config(path: Path) -> config_lib.Config:
  """The `Config` stored in a workdir's config.json.

  Settings retired since it was written are dropped; settings added since take
  the value of the setting the workdir used in their place (`ADDED_FIELDS`),
  or the one value every workdir before them ran with (`FORMER_VALUES`).

  A config.json that is not valid JSON, or that names a setting purepi does
  not know, is a UsageError naming the file.
  """
  values = read_json(path, "config.json")
  for name in config_lib.RETIRED_FIELDS:
    values.pop(name, None)
  for name, used_before in config_lib.ADDED_FIELDS.items():
    if name not in values and used_before in values:
      values[name] = values[used_before]
  for name, former_value in config_lib.FORMER_VALUES.items():
    values.setdefault(name, former_value)
  known = {field.name for field in dataclasses.fields(config_lib.Config)}
  unknown = sorted(set(values) - known)
  if unknown:
    raise UsageError(f"{path}: unknown setting(s) {', '.join(unknown)}; it was written by another "
                     "version of purepi or edited by hand")
  for field in dataclasses.fields(config_lib.Config):
    if isinstance(values.get(field.name), list):
      values[field.name] = tuple(values[field.name])
  return config_lib.Config(**values)


def check_resumable(stored: config_lib.Config, config: config_lib.Config) -> None:
  """Raises UsageError if `config` would continue `stored`'s workdir as a different run.

  Every setting outside `config.RESUMABLE_CHANGES` defines the run, and so does
  `num_iterations` when the learning rate decays over them; the other trainer's
  own settings do not (a PPO run never reads `num_simulations`).
  """
  ignored = config_lib.settings_ignored_by(stored.mode)
  defining = lambda name: name not in ignored and (
      name not in config_lib.RESUMABLE_CHANGES
      or (name == "num_iterations" and stored.learning_rate_schedule != "constant"))
  changed = [f"--{field.name}: {getattr(stored, field.name)!r} stored, {getattr(config, field.name)!r} now"
             + (f" (the {stored.learning_rate_schedule} learning rate decays over them: a longer run, "
                "--budget included, is a new run)"
                if field.name == "num_iterations" else "")
             for field in dataclasses.fields(config_lib.Config)
             if defining(field.name) and getattr(stored, field.name) != getattr(config, field.name)]
  if changed:
    raise UsageError(f"--workdir={config.workdir} holds a run with other settings "
                     f"({'; '.join(changed)}); choose another --workdir or the stored values")


LOCK_FILE = "workdir.lock"


@contextlib.contextmanager
def exclusive(workdir: str):
  """Holds an OS lock on `workdir` (created if needed) for the life of the block.

  The lock is `flock` on `workdir/workdir.lock`, so it follows the directory however its path is
  spelled, and the kernel releases it when the process ends, however it ends: a killed run leaves
  no stale lock. A second process is refused at once with a UsageError naming the holder, having
  written nothing.
  """
  path = prepare_workdir(workdir) / LOCK_FILE
  # Locked through a read-only descriptor, so that holding the lock keeps no file open for writing
  # (a file system with one cannot be remounted read-only).
  descriptor = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
  try:
    try:
      fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      holder = path.read_text().strip() or "another process"
      raise UsageError(f"--workdir={workdir} is in use by {holder}: one run at a time writes into a "
                       "workdir; wait for it to end, or choose another --workdir") from None
    path.write_text(f"pid {os.getpid()} ({' '.join(sys.argv)})\n")
    yield
  finally:
    os.close(descriptor)
