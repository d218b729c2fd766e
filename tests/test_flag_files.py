"""distill.flags and paper.flags name only Config fields, with values that validate."""
import dataclasses
import typing
from pathlib import Path

import pytest

from purepi import config as config_lib

ROOT = Path(__file__).resolve().parent.parent


def _read_flag_file(path):
  """`{name: value string}` of a flag file's `--name=value` lines."""
  values = {}
  for line in path.read_text().splitlines():
    line = line.strip()
    if line and not line.startswith("#"):
      assert line.startswith("--") and "=" in line, f"{path.name}: {line!r}"
      name, value = line[2:].split("=", 1)
      values[name] = value
  return values


def _config_from(*paths):
  fields = {field.name: field for field in dataclasses.fields(config_lib.Config)}
  values = {}
  for path in paths:
    for name, text in _read_flag_file(path).items():
      assert name in fields, f"{path.name}: --{name} is not a Config field"
      kind = fields[name].type
      if typing.get_origin(kind) is tuple:
        values[name] = tuple(typing.get_args(kind)[0](item) for item in text.split(","))
      elif kind is bool:
        values[name] = text.lower() in ("true", "1")
      else:
        values[name] = kind(text)
  return config_lib.Config(**values)


@pytest.mark.parametrize("files", [("distill.flags",), ("distill.flags", "paper.flags")])
def test_flag_files_validate(files):
  config = _config_from(*(ROOT / name for name in files))
  config_lib.validate(config)
  config_lib.validate_for_devices(config, num_devices=2)


def test_paper_overlay_is_the_blog_scale():
  config = _config_from(ROOT / "distill.flags", ROOT / "paper.flags")
  assert (config.rollout_batch_size, config.training_batch_size, config.num_simulations) == (1024, 4096, 32)
  assert (config.num_layers, config.num_heads, config.key_size, config.mlp_units) == (4, 4, 32, (256, 256))
  assert (config.learning_rate, config.num_iterations) == (1e-3, 800)
  assert config.workdir != _config_from(ROOT / "distill.flags").workdir
