"""Orbax checkpoints of a run: parameters, optimiser state, the RNG key and the counters.

A checkpoint holds everything an uninterrupted run carries from one iteration
to the next, so a resumed run replays the same RNG stream.
"""
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from purepi.training.algorithm import TrainState
from purepi.training.workdir import load_config


# Counters carried across iterations and restored on resume.
COUNTERS = ("iteration", "wall_clock_s", "env_steps", "search_decisions")


class Checkpointer:
  """Orbax checkpoints of `{"params", "opt_state", "key", counters...}` under `directory`.

  Orbax writes each checkpoint to a temporary directory and renames it when
  complete, so an interrupted save never leaves a checkpoint that looks valid.
  """

  def __init__(self, directory, max_to_keep: int = 2):
    import orbax.checkpoint as ocp
    self._ocp = ocp
    self._manager = ocp.CheckpointManager(
        Path(directory).absolute(),
        options=ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=True, enable_async_checkpointing=False))

  def latest_iteration(self) -> Optional[int]:
    return self._manager.latest_step()

  def save(self, iteration: int, payload) -> None:
    self._manager.save(iteration, args=self._ocp.args.StandardSave(payload), force=True)
    self._manager.wait_until_finished()

  def restore(self, template=None, iteration: Optional[int] = None):
    """The payload of `iteration` (default: the latest), shaped like `template` if given."""
    iteration = self.latest_iteration() if iteration is None else iteration
    if iteration is None:
      raise FileNotFoundError(f"no checkpoint in {self._manager.directory}")
    args = self._ocp.args.StandardRestore(template)
    return self._manager.restore(iteration, args=args)


def checkpoint_payload(train_state: TrainState, key, counters) -> Dict[str, Any]:
  payload = {"params": train_state.params, "opt_state": train_state.opt_state,
             "key": np.asarray(key)}
  payload.update({name: np.asarray(counters[name]) for name in COUNTERS})
  return payload


def load_params(checkpoint: str):
  """Params and the run's `Config` from a workdir (its latest checkpoint) or a checkpoint directory.

  The network and environment settings must be the trained run's, so they are
  read from the workdir's config.json.
  """
  path = Path(checkpoint)
  if (path / "checkpoints").is_dir():
    workdir, iteration = path, None
  elif path.parent.name == "checkpoints" and path.name.isdigit():
    workdir, iteration = path.parent.parent, int(path.name)
  else:
    raise FileNotFoundError(f"--checkpoint={checkpoint} is neither a workdir with checkpoints/ "
                            "nor a checkpoints/<iteration> directory")
  run_config = load_config(workdir / "config.json")
  payload = Checkpointer(workdir / "checkpoints").restore(iteration=iteration)
  return payload["params"], run_config
