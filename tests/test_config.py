"""Flag validation: every bad setting is rejected with a message naming the flag."""
import re
import subprocess
import sys

import pytest

from purepi import config as config_lib
from purepi.errors import UsageError


@pytest.mark.parametrize("overrides, fragment", [
    ({"mode": "train"}, "--mode='train'"),
    ({"rollout_batch_size": 0}, "--rollout_batch_size"),
    ({"obs_num_ems": 50}, "--obs_num_ems=50"),
    ({"learning_rate": -1.0}, "--learning_rate"),
    ({"discount": 1.5}, "--discount"),
    ({"mlp_units": (64, 0)}, "--mlp_units"),
    ({"mode": "compare"}, "--workdirs"),
    ({"learning_rate": float("inf")}, "--learning_rate must be a finite number, got inf"),
    ({"value_loss_weight": float("nan")}, "--value_loss_weight must be a finite number, got nan"),
    ({"gae_lambda": -0.5}, "--gae_lambda must be in [0, 1], got -0.5"),
    ({"clip_eps": 0.0}, "--clip_eps must be > 0, got 0.0"),
    ({"entropy_coef": -1.0}, "--entropy_coef must be >= 0, got -1.0"),
    ({"value_pooling": "max"}, "--value_pooling='max' is not one of mean, sum"),
    ({"greedy_rollout_fraction": 1.5}, "--greedy_rollout_fraction must be in [0, 1], got 1.5"),
    ({"eval_search_value_scale": 0.0}, "--eval_search_value_scale must be > 0, got 0.0"),
    ({"num_cpu_devices": -1}, "--num_cpu_devices must be >= 0, got -1"),
])
def test_validate_names_the_bad_flag(overrides, fragment):
  config = config_lib.Config(**overrides)
  with pytest.raises(UsageError, match=re.escape(fragment)):
    config_lib.validate(config)


def test_default_config_is_valid():
  config_lib.validate(config_lib.Config())


def test_batch_sizes_must_split_over_devices():
  config = config_lib.Config(rollout_batch_size=63)
  with pytest.raises(ValueError, match="--rollout_batch_size=63 is not divisible by the 2"):
    config_lib.validate_for_devices(config, num_devices=2)


@pytest.mark.parametrize("argument", ["--mode=nope", "--mlp_units=a,b", "--num_heads=0"])
def test_run_py_exits_2_with_one_line_error(argument):
  result = subprocess.run([sys.executable, "run.py", argument], capture_output=True, text=True)
  assert result.returncode == 2
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: ")


def test_num_cpu_devices_overrides_the_xla_flag(subprocess_environment, tmp_path):
  """One device by XLA_FLAGS, two by the flag: the run splits its batches over two.

  A rollout batch of 3 episodes does not split over two devices, so the run
  stops at that check, before compiling anything.
  """
  environment = dict(subprocess_environment, XLA_FLAGS="--xla_force_host_platform_device_count=1")
  result = subprocess.run([sys.executable, "run.py", "--mode=distill", "--num_cpu_devices=2",
                           "--rollout_batch_size=3", "--training_batch_size=8",
                           f"--workdir={tmp_path / 'run'}"],
                          capture_output=True, text=True, env=environment)
  assert result.returncode == 2
  assert "--rollout_batch_size=3 is not divisible by the 2 devices" in result.stderr


@pytest.mark.parametrize("argument", ["--help", "--helpfull"])
def test_help_prints_the_flags_and_exits_0(argument):
  result = subprocess.run([sys.executable, "run.py", argument], capture_output=True, text=True)
  assert result.returncode == 0, result.stderr
  assert "--flagfile" in result.stdout or "--eval_num_episodes" in result.stdout


def test_a_retired_flag_names_its_replacement():
  result = subprocess.run([sys.executable, "run.py", "--mode=baselines", "--num_episodes=8"],
                          capture_output=True, text=True)
  assert result.returncode == 2
  assert result.stderr.strip() == "error: --num_episodes was retired: use --eval_num_episodes"


def test_an_unknown_flag_still_exits_2_with_a_suggestion():
  result = subprocess.run([sys.executable, "run.py", "--num_simulation=4"], capture_output=True, text=True)
  assert result.returncode == 2
  assert result.stderr.strip().startswith("error: Unknown command line flag 'num_simulation'")
