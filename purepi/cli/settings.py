"""Which settings each mode reads, and from where: the command line or the trained run.

The training modes read every setting but the other trainer's own (`config.TRAINER_ONLY_SETTINGS`).
The other modes read the settings listed here; a flag given to a mode that does not read it is
refused in one line, never silently ignored.

`eval`, `render` and `pack` run a trained network (`--checkpoint`, else the workdir's run). The
network and the action space it was trained for (`TRAINED_RUN_SETTINGS`) are the trained run's,
from its config.json; each setting of `FROM_THE_TRAINED_RUN_UNLESS_GIVEN[mode]` is the trained
run's too unless the command line gives it (so `--mode=eval` measures a run as its training
did, and `--max_num_items=50` measures it on larger instances); `ALWAYS_FROM_THE_COMMAND_LINE`
says where and how the mode itself runs.
"""
import dataclasses

from purepi import config as config_lib
from purepi.errors import UsageError

NETWORK = ("num_layers", "num_heads", "key_size", "mlp_units", "pairwise_policy_head", "value_pooling")
TRAINED_RUN_SETTINGS = NETWORK + ("rotations", "discount")
ALWAYS_FROM_THE_COMMAND_LINE = ("mode", "workdir", "checkpoint", "progress", "num_cpu_devices")
INSTANCES = ("max_num_items", "max_num_ems", "obs_num_ems", "split_num_same_items", "generator",
             "csv_path", "container_dims", "min_support")
HELD_OUT = ("eval_seed", "eval_num_episodes")
EVALUATION_SEARCH = ("eval_num_simulations", "eval_max_num_considered_actions", "eval_gumbel_scale",
                     "eval_search_value_scale")
FROM_THE_TRAINED_RUN_UNLESS_GIVEN = {
    "eval": INSTANCES + HELD_OUT + EVALUATION_SEARCH,
    "render": INSTANCES + HELD_OUT + ("num_renders",),
    "pack": INSTANCES + EVALUATION_SEARCH + ("pack_policy", "seed", "time_limit", "rotation_rule"),
}
# The modes that run no trained run's network read only the command line.
COMMAND_LINE_ONLY = {
    "baselines": ("mode", "progress", "num_cpu_devices") + INSTANCES + ("rotations",) + HELD_OUT,
    "compare": ("mode", "workdir", "workdirs", "progress"),
    "export": ("mode", "checkpoint", "workdir"),
    "inspect": ("mode", "checkpoint", "seed", "tree_out", "inspect_num_steps", "inspect_num_simulations",
                "inspect_num_considered_actions", "gumbel_scale", "search_value_scale", "discount",
                "num_cpu_devices") + INSTANCES + ("rotations",),
}


# The modes that play a load at its own size, as `--mode=pack` does (`purepi.planner.sized_for_load`),
# when `sized_for_load` says so; the EMS slots of BinPack-v2's 20 items overflow on larger loads.
SIZED_FOR_THE_LOAD = ("pack", "eval", "render", "baselines")


def sized_for_load(config: config_lib.Config, trained_size: int) -> bool:
  """Whether `config.mode` plays its load at the load's own size: always for `pack`; for the other
  modes of `SIZED_FOR_THE_LOAD` on a CSV, or at more items than `trained_size` (the trained run's
  `max_num_items`, `Config`'s default for `baselines`), so that a run is measured as it was trained."""
  return config.mode == "pack" or (config.mode in SIZED_FOR_THE_LOAD and (
      bool(config.csv_path) or config.max_num_items > trained_size))


# Where a mode writes when the command line gives no --workdir (Config's default holds a training run).
DEFAULT_WORKDIR = {"pack": "workdirs/plan"}


def with_mode_defaults(config: config_lib.Config, given) -> config_lib.Config:
  """`config` with `DEFAULT_WORKDIR[config.mode]` unless `--workdir` was given."""
  if config.mode in DEFAULT_WORKDIR and "workdir" not in given:
    return dataclasses.replace(config, workdir=DEFAULT_WORKDIR[config.mode])
  return config


def read_by(mode: str):
  """The settings `mode` reads (None for a training mode, which reads them all)."""
  if mode in FROM_THE_TRAINED_RUN_UNLESS_GIVEN:
    return ALWAYS_FROM_THE_COMMAND_LINE + FROM_THE_TRAINED_RUN_UNLESS_GIVEN[mode]
  return COMMAND_LINE_ONLY.get(mode)


def check_given(mode: str, given) -> None:
  """UsageError naming every flag of `given` (names set on the command line) that `mode` does not read."""
  read = read_by(mode)
  if read is None:
    return
  unread = [name for name in given if name not in read]
  if not unread:
    return
  flags = ", ".join(f"--{name}" for name in unread)
  why = (" (the network and its action space are the trained run's, from its config.json)"
         if mode in FROM_THE_TRAINED_RUN_UNLESS_GIVEN and set(unread) & set(TRAINED_RUN_SETTINGS)
         else "")
  raise UsageError(f"--mode={mode} does not read {flags}{why}; it reads "
                   + ", ".join(f"--{name}" for name in read if name != "mode"))


def for_trained_run(config: config_lib.Config, trained: config_lib.Config, given=()) -> config_lib.Config:
  """The settings `config.mode` runs a trained run's network with.

  `trained` is the run's stored Config; `given` the names the command line set. The result is
  `trained` but for `ALWAYS_FROM_THE_COMMAND_LINE` and the given settings the mode reads.
  """
  from_command_line = set(ALWAYS_FROM_THE_COMMAND_LINE) | (
      set(given) & set(FROM_THE_TRAINED_RUN_UNLESS_GIVEN[config.mode]))
  mode_defaults = {name: value for name, value in config_lib.PACK_DEFAULTS.items() if name not in given} if (
      config.mode == "pack") else {}
  merged = dataclasses.replace(trained, **{name: getattr(config, name) for name in from_command_line},
                               **mode_defaults)
  config_lib.validate(merged)
  return merged
