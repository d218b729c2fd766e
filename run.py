"""purepi's single entry point.

  python run.py --flagfile=distill.flags                      # search distillation
  python run.py --flagfile=ppo.flags                          # PPO baseline
  python run.py --mode=baselines --num_episodes=1024          # heuristic table
  python run.py --mode=inspect                                # one search, step by step
  python run.py --mode=compare --workdirs=workdirs/distill,workdirs/ppo

Every flag is a field of `purepi.config.Config`; bad values stop the run with a
one-line error and exit code 2 before anything is written.
"""
import dataclasses
import importlib
import sys
import typing

from absl import app, flags

from purepi import config as config_lib

# mode -> "module:function"; imported lazily so each mode loads only what it needs.
ENTRY_POINTS = {
    "distill": "purepi.agents.distill:main",
    "ppo": "purepi.agents.ppo:main",
    "eval": "purepi.agents.evaluation:main",
    "baselines": "purepi.agents.heuristics:main",
    "inspect": "purepi.agents.inspect:main",
    "render": "purepi.agents.evaluation:render_main",
    "compare": "purepi.agents.compare:main",
}


def _define_flags():
  for field in dataclasses.fields(config_lib.Config):
    kind = typing.get_origin(field.type) or field.type
    help_text = field.metadata["help"]
    if kind is tuple:
      flags.DEFINE_list(field.name, [str(v) for v in field.default], help_text)
    elif kind is bool:
      flags.DEFINE_bool(field.name, field.default, help_text)
    elif kind is int:
      flags.DEFINE_integer(field.name, field.default, help_text)
    elif kind is float:
      flags.DEFINE_float(field.name, field.default, help_text)
    else:
      flags.DEFINE_string(field.name, field.default, help_text)


def config_from_flags() -> config_lib.Config:
  values = {}
  for field in dataclasses.fields(config_lib.Config):
    value = flags.FLAGS[field.name].value
    if typing.get_origin(field.type) is tuple:
      item_type = typing.get_args(field.type)[0]
      try:
        value = tuple(item_type(v) for v in value)
      except ValueError:
        raise ValueError(f"--{field.name} must be a comma-separated list of {item_type.__name__}, "
                         f"got {','.join(value)}") from None
    values[field.name] = value
  return config_lib.Config(**values)


def main(argv):
  if len(argv) > 1:
    _fail(f"unexpected arguments: {' '.join(argv[1:])}")
  try:
    config = config_from_flags()
    config_lib.validate(config)
  except ValueError as error:
    _fail(str(error))
  module_name, function_name = ENTRY_POINTS[config.mode].split(":")
  entry = getattr(importlib.import_module(module_name), function_name)
  try:
    entry(config)
  except (ValueError, FileNotFoundError) as error:
    _fail(str(error))


def _fail(message):
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


if __name__ == "__main__":
  _define_flags()
  app.run(main)
