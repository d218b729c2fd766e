"""Orbax checkpoints of a run: parameters, optimiser state, the RNG key and the counters.

A checkpoint holds everything an uninterrupted run carries from one iteration
to the next, so a resumed run replays the same RNG stream.
"""
import contextlib
import logging
import shutil
import sys
import threading
import warnings
from pathlib import Path
from typing import Any, Dict, Optional

import jax
import numpy as np

from purepi.devices import from_global, replicate, to_global, unreplicate
from purepi.errors import UsageError, WriteError, write_failure
from purepi.training import distributed
from purepi.training.algorithm import TrainState


# Counters carried across iterations and restored on resume.
COUNTERS = ("iteration", "wall_clock_s", "env_steps", "search_decisions")


class Checkpointer:
  """Orbax checkpoints of `{"params", "opt_state", "key", counters...}` under `directory`.

  Orbax writes each checkpoint to a temporary directory and renames it when
  complete, so an interrupted save never leaves a checkpoint that looks valid.
  A checkpoint damaged afterwards (a disk error, a truncated copy) is set aside
  by `restore_newest_readable`, which falls back to the newest one that reads
  (and that metrics.jsonl has the records of).

  Across processes every process calls `save` and `restore` (orbax's
  multi-process checkpointing, on a directory all of them share): arrays laid
  out over all devices are written and read by the processes that hold them,
  numpy arrays by process 0.
  """

  def __init__(self, directory, max_to_keep: int = 2):
    import orbax.checkpoint as ocp
    self._ocp = ocp
    self._directory = Path(directory).absolute()
    self._manager = ocp.CheckpointManager(
        self._directory,
        options=ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=True, enable_async_checkpointing=False),
        item_handlers=ocp.StandardCheckpointHandler())

  def latest_iteration(self) -> Optional[int]:
    return self._manager.latest_step()

  def save(self, iteration: int, payload) -> None:
    """Writes checkpoint `iteration`; a full disk or read-only directory is a `WriteError`."""
    try:
      with _quiet_unless_it_succeeds():
        self._manager.save(iteration, args=self._ocp.args.StandardSave(payload), force=True)
        self._manager.wait_until_finished()
    except Exception as error:  # tensorstore reports an OS error as a ValueError
      failure = write_failure(error)
      if failure is None:
        raise
      raise WriteError(f"checkpoint {iteration} in {self._directory}", failure.reason) from None

  def restore(self, template=None, iteration: Optional[int] = None):
    """The payload of `iteration` (default: the latest), shaped like `template` if given."""
    iteration = self.latest_iteration() if iteration is None else iteration
    if iteration is None:
      raise UsageError(f"no checkpoint in {self._manager.directory}")
    args = self._ocp.args.StandardRestore(template)
    return self._manager.restore(iteration, args=args)

  def restore_to_host(self, iteration: Optional[int] = None):
    """The payload of `iteration` (default: the latest) as numpy arrays, whatever devices wrote it.

    For reading a trained network on another machine than the one (or the
    processes) that trained it: a template-free restore would ask for the
    writers' device layout.
    """
    iteration = self.latest_iteration() if iteration is None else iteration
    if iteration is None:
      raise UsageError(f"no checkpoint in {self._manager.directory}")
    shapes = self._manager.item_metadata(iteration).tree
    return self.restore(jax.tree.map(lambda leaf: np.zeros(leaf.shape, leaf.dtype), shapes), iteration)

  def restore_newest_readable(self, template, recorded_through: int):
    """`(iteration, payload)` of the newest checkpoint that restores and has its records;
    `(None, None)` without any.

    `recorded_through` is the last iteration that metrics.jsonl holds the
    records of, with all those before it (`workdir.recorded_through`). A newer
    checkpoint lost its record to a crash or power loss (the loop writes the
    record first, but a disk may reorder writes); resuming from it would leave
    that iteration without a record. It is deleted with a warning, once an
    older checkpoint has restored or when none is older, and the resumed run
    trains those iterations again, writing the same records and checkpoint.

    A newer checkpoint that fails to restore is moved to
    `unreadable_checkpoints/<iteration>` beside the checkpoint directory (kept,
    not deleted) with a warning. If none restores, nothing is moved or deleted
    and the newest one's error is raised as a UsageError: the checkpoints are
    all unreadable, or were written by a different configuration.
    """
    iterations = sorted(self._manager.all_steps(), reverse=True)
    unrecorded = [iteration for iteration in iterations if iteration > recorded_through]
    failures = []
    for iteration in iterations[len(unrecorded):]:
      try:
        payload = self.restore(template, iteration)
      except Exception as error:  # A damaged checkpoint surfaces as any of orbax's or tensorstore's errors.
        failures.append((iteration, error))
        continue
      self._delete_unrecorded(unrecorded, recorded_through, f"resuming from checkpoint {iteration}")
      for unreadable, error in failures if distributed.is_primary() else ():
        destination = self._set_aside(unreadable)
        warnings.warn(f"checkpoint {unreadable} in {self._directory} cannot be read "
                      f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); "
                      f"moved to {destination}, resuming from checkpoint {iteration}",
                      RuntimeWarning, stacklevel=2)
      if failures:
        distributed.barrier("checkpoints_set_aside")
        self._manager.reload()
      return iteration, payload
    if failures:
      iteration, error = failures[0]
      raise UsageError(f"no checkpoint in {self._directory} can be read (checkpoint {iteration}: "
                       f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})")
    self._delete_unrecorded(unrecorded, recorded_through, "starting from iteration 0")
    return None, None

  def _delete_unrecorded(self, unrecorded, recorded_through: int, resuming: str) -> None:
    """Deletes the checkpoints of `unrecorded` (collective: every process calls it), with a warning."""
    for iteration in unrecorded:
      self._manager.delete(iteration)
    if unrecorded and distributed.is_primary():
      warnings.warn(f"metrics.jsonl has no record of iteration {recorded_through + 1} (a crash or power "
                    f"loss cut it): checkpoint {', '.join(map(str, sorted(unrecorded)))} in "
                    f"{self._directory} deleted, {resuming} to train those iterations again",
                    RuntimeWarning, stacklevel=3)

  def _set_aside(self, iteration: int) -> Path:
    aside = self._directory.parent / "unreadable_checkpoints"
    aside.mkdir(exist_ok=True)
    destination = aside / str(iteration)
    suffix = 1
    while destination.exists():
      destination, suffix = aside / f"{iteration}_{suffix}", suffix + 1
    shutil.move(str(self._directory / str(iteration)), destination)
    return destination


@contextlib.contextmanager
def _quiet_unless_it_succeeds():
  """No log records nor thread tracebacks while orbax saves, and none after a failed save.

  When a write fails, orbax's threads log it with a traceback and tensorstore's threads, ending the
  writes under way after orbax closed their event loop, print one traceback each ("Event loop is
  closed") through Python's hooks, before and after the save raises: the caller reports the failure
  once. A save that succeeds, or fails for another reason (a bug keeps its traceback), puts
  everything back.
  """
  hooks = sys.excepthook, sys.unraisablehook, threading.excepthook
  disabled = logging.root.manager.disable

  def ignore(*args):
    del args

  def put_back():
    logging.disable(disabled)
    sys.excepthook, sys.unraisablehook, threading.excepthook = hooks

  logging.disable(logging.CRITICAL)
  sys.excepthook = sys.unraisablehook = threading.excepthook = ignore
  try:
    yield
  except Exception as error:
    if write_failure(error) is None:
      put_back()
    raise
  put_back()


def resume_note(workdir) -> str:
  """What a run stopped by a write failure kept, and how to go on from it."""
  directory = Path(workdir) / "checkpoints"
  complete = [int(path.name) for path in directory.iterdir() if path.name.isdigit()] if (
      directory.is_dir()) else []
  if not complete:
    return "no checkpoint was complete yet: free space and run the same command to start again"
  return (f"checkpoint {max(complete)} is the newest complete one: free space (or copy the workdir "
          "elsewhere) and run the same command to resume from it")


def checkpoint_payload(device_state: TrainState, key, counters, devices) -> Dict[str, Any]:
  """What a checkpoint holds, from the train state as it lies on `devices` (all processes').

  Parameters and optimiser state are the same on every device and are stored
  once, as numpy arrays; a replay buffer differs per device and is stored
  whole, one `[num_devices, ...]` array laid out over the devices (only when
  the trainer has one). Then the RNG key and the counters.
  """
  payload = {"params": jax.device_get(unreplicate(device_state.params)),
             "opt_state": jax.device_get(unreplicate(device_state.opt_state)), "key": np.asarray(key)}
  if device_state.replay is not None:
    payload["replay"] = to_global(device_state.replay, devices)
  payload.update({name: np.asarray(counters[name]) for name in COUNTERS})
  return payload


def device_state_of(payload, devices) -> TrainState:
  """The train state a restored checkpoint payload holds, laid out on `devices` again."""
  replay = payload.get("replay")
  return TrainState(replicate(payload["params"], devices), replicate(payload["opt_state"], devices),
                    None if replay is None else from_global(replay, devices))
