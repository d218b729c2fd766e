"""The command line: every `Config` field is a flag, `--mode` picks what runs.

  python run.py --flagfile=distill.flags                      # search distillation
  python run.py --flagfile=ppo.flags                          # PPO baseline
  python run.py --mode=baselines                              # heuristic table, held-out instances
  python run.py --mode=inspect                                # one search, step by step
  python run.py --mode=compare --workdirs=workdirs/distill,workdirs/ppo

Every flag is a field of `purepi.config.Config`; bad values stop the run with a
one-line error and exit code 2 before anything is written (`purepi.errors`:
a user's mistake exits 2, training that hit a NaN exits 3, a file that cannot be written
(full disk, read-only file system) exits 74, a bug keeps its
traceback). `run.py` at the repository root calls `run`.
"""
import contextlib
import dataclasses
import importlib
import os
import sys
import typing

from absl import app, flags

from purepi import config as config_lib
from purepi.cli import settings
from purepi.errors import Interrupted, NonFiniteError, UsageError, write_failure

# Modes that write into --workdir, which each holds for its whole life (one process at a time).
WRITING_MODES = ("distill", "ppo", "render", "compare", "pack")
# mode -> "module:function"; imported lazily so each mode loads only what it needs.
ENTRY_POINTS = {
    "distill": "purepi.cli.train:main",
    "ppo": "purepi.cli.train:main",
    "eval": "purepi.cli.evaluate:eval_main",
    "baselines": "purepi.cli.evaluate:baselines_main",
    "inspect": "purepi.cli.inspect:main",
    "render": "purepi.cli.evaluate:render_main",
    "compare": "purepi.cli.evaluate:compare_main",
    "pack": "purepi.cli.pack:main",
    "export": "purepi.cli.pack:export_main",
}


def define_flags(flag_values=flags.FLAGS) -> None:
  """Defines one flag per `Config` field (name, default and help from the field) in `flag_values`."""
  for field in dataclasses.fields(config_lib.Config):
    kind = typing.get_origin(field.type) or field.type
    help_text = field.metadata["help"]
    if kind is tuple:
      flags.DEFINE_list(field.name, [str(v) for v in field.default], help_text, flag_values=flag_values)
    elif kind is bool:
      flags.DEFINE_bool(field.name, field.default, help_text, flag_values=flag_values)
    elif kind is int:
      flags.DEFINE_integer(field.name, field.default, help_text, flag_values=flag_values)
    elif kind is float:
      flags.DEFINE_float(field.name, field.default, help_text, flag_values=flag_values)
    else:
      flags.DEFINE_string(field.name, field.default, help_text, flag_values=flag_values)


def config_from_flags(flag_values=flags.FLAGS) -> config_lib.Config:
  """The `Config` of parsed flags (not yet validated)."""
  values = {}
  for field in dataclasses.fields(config_lib.Config):
    value = flag_values[field.name].value
    if typing.get_origin(field.type) is tuple:
      item_type = typing.get_args(field.type)[0]
      try:
        value = tuple(item_type(v) for v in value)
      except ValueError:
        raise UsageError(f"--{field.name} must be a comma-separated list of {item_type.__name__}, "
                         f"got {','.join(value)}") from None
    values[field.name] = value
  return config_lib.Config(**values)


def given_settings(flag_values=flags.FLAGS):
  """Names of the `Config` fields set on the command line (or in a flag file)."""
  return [field.name for field in dataclasses.fields(config_lib.Config) if flag_values[field.name].present]


def validated_config(flag_values=flags.FLAGS) -> config_lib.Config:
  """The `Config` the parsed flags ask for, validated, with `--budget` applied.

  A flag the mode does not read is refused (`purepi.cli.settings`).
  """
  config = config_from_flags(flag_values)
  config_lib.validate(config)
  given = given_settings(flag_values)
  settings.check_given(config.mode, given)
  return settings.with_mode_defaults(config_lib.with_budget(config), given)


def _with_trained_run(config):
  """For a mode that runs a trained network: its trained run's settings, but for those given. The modes
  that play a load get its own sizes (`purepi.planner.sized_for_load`) where `settings.sized_for_load`
  says so."""
  if config.mode not in {*settings.FROM_THE_TRAINED_RUN_UNLESS_GIVEN, *settings.SIZED_FOR_THE_LOAD}:
    return config
  from purepi import planner
  given = given_settings()
  trained_size = config_lib.Config.max_num_items
  if config.mode in settings.FROM_THE_TRAINED_RUN_UNLESS_GIVEN:
    from purepi.training.trained_networks import load_run_config
    trained = load_run_config(planner.trained_network(config))
    config, trained_size = settings.for_trained_run(config, trained, given), trained.max_num_items
  return planner.sized_for_load(config, given=given) if settings.sized_for_load(config, trained_size) else config


def parse_config(arguments) -> config_lib.Config:
  """The validated `Config` that `python run.py *arguments` would run (flag files included); runs nothing."""
  flag_values = flags.FlagValues()
  define_flags(flag_values)
  flag_values(["run.py", *arguments])
  return validated_config(flag_values)


# Exit statuses: a user's mistake, training that stopped on a non-finite value, a file that could
# not be written (sysexits' EX_IOERR). Signals: 128 + the signal's number (`purepi.errors`).
EXIT_USAGE = 2
EXIT_NON_FINITE = 3
EXIT_WRITE = 74


def main(argv):
  """Validates the parsed flags and runs `--mode`'s entry function."""
  if len(argv) > 1:
    _fail(f"unexpected arguments: {' '.join(argv[1:])}")
  try:
    config = validated_config()
  except UsageError as error:
    _fail(str(error))
  quiet_logging()
  try:
    # Before the mode's modules load: some of them touch JAX's backend on import.
    _make_cpu_devices(config)
    _join_processes(config)
    module_name, function_name = ENTRY_POINTS[config.mode].split(":")
    entry = getattr(importlib.import_module(module_name), function_name)
    with _hold_workdir(config):
      entry(_with_trained_run(config))
  except UsageError as error:
    _fail(str(error))
  except NonFiniteError as error:
    _fail(str(error), EXIT_NON_FINITE)
  except Interrupted as error:
    print(str(error), file=sys.stderr)
    sys.exit(error.exit_status)
  except Exception as error:
    failure = write_failure(error)
    if failure is None:
      raise
    # At once: orbax's and tensorstore's threads still hold the failed writes, and would print a
    # traceback each while the interpreter shut down.
    _fail(str(failure), EXIT_WRITE, at_once=True)


def _make_cpu_devices(config):
  """`--num_cpu_devices`: how many devices JAX makes of the CPU cores (before its backend starts)."""
  if config.num_cpu_devices:
    import jax
    jax.config.update("jax_num_cpu_devices", config.num_cpu_devices)


def _join_processes(config):
  """`jax.distributed.initialize` for a multi-process run (README, "More than one machine")."""
  if config.coordinator_address:
    from purepi.training import distributed
    distributed.initialize(config)


def _hold_workdir(config):
  """The workdir's lock for a mode that writes into it, held by process 0 of a multi-process run."""
  if config.mode in WRITING_MODES and config.process_id == 0:
    from purepi.training import workdir
    return workdir.exclusive(config.workdir)
  return contextlib.nullcontext()


def _fail(message, status=EXIT_USAGE, at_once=False):
  print(f"error: {message}", file=sys.stderr)
  if at_once:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
  sys.exit(status)


HELP_FLAGS = ("--help", "-?", "--helpshort", "--helpfull", "--helpxml")


def parse_flags_or_fail(argv):
  """absl's flag parsing, with a bad flag reported in one line and exit status 2 (absl's own: 1).

  A retired flag names the one that replaced it; `--help` and `--helpfull` print the flags and
  exit 0, as command-line tools do (absl exits 1 after printing them).
  """
  try:
    return flags.FLAGS(argv)
  except flags.UnrecognizedFlagError as error:
    replacement = config_lib.RETIRED_FIELDS.get(error.flagname)
    if replacement:
      _fail(f"--{error.flagname} was retired: use --{replacement}")
    _fail(str(error).splitlines()[0])
  except flags.Error as error:
    _fail(str(error).splitlines()[0] if str(error) else type(error).__name__)
  except SystemExit as exit_request:
    if exit_request.code == 1 and any(argument.split("=")[0] in HELP_FLAGS for argument in argv[1:]):
      sys.exit(0)
    raise


def quiet_logging() -> None:
  """Keeps absl INFO lines (JAX backend probing, Orbax save steps) out of the progress output."""
  from absl import logging
  logging.set_verbosity(logging.WARNING)


NOTHING_TO_RUN = """purepi: policy iteration via search distillation for 3D bin packing.

Say what to run (README.md has the details and the measured results):
  purepi --flagfile=distill.flags        train the main job (search distillation)
  purepi --flagfile=ppo.flags            train the PPO baseline on the same budget
  purepi --flagfile=distill.flags --num_seeds=3 --workdir=workdirs/distill_seeds
  purepi --mode=compare --workdirs=workdirs/distill,workdirs/ppo --workdir=workdirs/comparison
  purepi --mode=pack --csv_path=my_container.csv    a load plan, with the network purepi ships
  purepi --mode=baselines | --mode=inspect | --mode=eval --checkpoint=DIR | --mode=render ...
  purepi --helpfull                      every flag
(`purepi`, `python -m purepi` and `python run.py` are the same command.)"""


def run(argv=None):
  """Parses the command line into a `Config` and runs its mode; with no argument, says what to run."""
  argv = sys.argv if argv is None else argv
  if len(argv) == 1:
    print(NOTHING_TO_RUN)
    sys.exit(EXIT_USAGE)
  define_flags()
  app.run(main, argv=argv, flags_parser=parse_flags_or_fail)
