"""The command line: every `Config` field is a flag, `--mode` picks what runs.

  python run.py --flagfile=distill.flags                      # search distillation
  python run.py --flagfile=ppo.flags                          # PPO baseline
  python run.py --mode=baselines --num_episodes=1024          # heuristic table
  python run.py --mode=inspect                                # one search, step by step
  python run.py --mode=compare --workdirs=workdirs/distill,workdirs/ppo

Every flag is a field of `purepi.config.Config`; bad values stop the run with a
one-line error and exit code 2 before anything is written. `run.py` at the
repository root calls `run`.
"""
import dataclasses
import importlib
import sys
import typing

from absl import app, flags

from purepi import config as config_lib

# mode -> "module:function"; imported lazily so each mode loads only what it needs.
ENTRY_POINTS = {
    "distill": "purepi.cli.train:main",
    "ppo": "purepi.cli.train:main",
    "eval": "purepi.cli.evaluate:eval_main",
    "baselines": "purepi.cli.evaluate:baselines_main",
    "inspect": "purepi.cli.inspect:main",
    "render": "purepi.cli.evaluate:render_main",
    "compare": "purepi.cli.evaluate:compare_main",
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
        raise ValueError(f"--{field.name} must be a comma-separated list of {item_type.__name__}, "
                         f"got {','.join(value)}") from None
    values[field.name] = value
  return config_lib.Config(**values)


def parse_config(arguments) -> config_lib.Config:
  """The validated `Config` that `python run.py *arguments` would run (flag files included); runs nothing."""
  flag_values = flags.FlagValues()
  define_flags(flag_values)
  flag_values(["run.py", *arguments])
  config = config_from_flags(flag_values)
  config_lib.validate(config)
  return config


def main(argv):
  if len(argv) > 1:
    _fail(f"unexpected arguments: {' '.join(argv[1:])}")
  try:
    config = config_from_flags()
    config_lib.validate(config)
  except ValueError as error:
    _fail(str(error))
  quiet_logging()
  module_name, function_name = ENTRY_POINTS[config.mode].split(":")
  entry = getattr(importlib.import_module(module_name), function_name)
  try:
    entry(config)
  except (ValueError, FileNotFoundError) as error:
    _fail(str(error))


def _fail(message):
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


def quiet_logging() -> None:
  """Keeps absl INFO lines (JAX backend probing, Orbax save steps) out of the progress output."""
  from absl import logging
  logging.set_verbosity(logging.WARNING)


def run():
  """Parses the command line into a `Config` and runs its mode."""
  define_flags()
  app.run(main)
