"""Which settings each mode reads, and from where (`purepi.cli.settings`)."""
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from purepi import config as config_lib
from purepi.cli import app, settings
from purepi.errors import UsageError
from purepi.training import workdir as workdir_lib

ROOT = Path(__file__).resolve().parent.parent
TRAINED = ROOT / "tests" / "data" / "workdir_v0"  # a tiny trained run: 5 items, 6 EMSs


def test_every_listed_setting_is_a_config_field_and_every_mode_is_listed():
  fields = {field.name for field in dataclasses.fields(config_lib.Config)}
  for mode in config_lib.MODES:
    read = settings.read_by(mode)
    assert read is None if mode in ("distill", "ppo") else set(read) <= fields, mode
  assert set(settings.TRAINED_RUN_SETTINGS) <= fields


@pytest.mark.parametrize("arguments, message", [
    (["--mode=eval", "--checkpoint=w", "--num_layers=3"],
     r"--mode=eval does not read --num_layers \(the network and its action space are the trained "
     r"run's, from its config.json\); it reads --workdir, --checkpoint"),
    (["--mode=eval", "--checkpoint=w", "--num_iterations=5", "--learning_rate=1"],
     r"--mode=eval does not read --num_iterations, --learning_rate; it reads"),
    (["--mode=render", "--checkpoint=w", "--eval_num_simulations=4"], r"--mode=render does not read --eval_num_simulations"),
    (["--mode=pack", "--csv_path=c.csv", "--rotations=all"], r"--mode=pack does not read --rotations \(the network"),
    (["--mode=baselines", "--budget=2"], r"--mode=baselines does not read --budget"),
    (["--mode=compare", "--workdirs=a", "--seed=3"], r"--mode=compare does not read --seed"),
    (["--mode=inspect", "--eval_seed=7"], r"--mode=inspect does not read --eval_seed"),
])
def test_a_flag_the_mode_does_not_read_is_refused_naming_it(arguments, message):
  with pytest.raises(UsageError, match=message):
    app.parse_config(arguments)


@pytest.mark.parametrize("arguments", [
    ["--mode=eval", "--checkpoint=w", "--max_num_items=100", "--max_num_ems=200", "--obs_num_ems=200",
     "--generator=boxes", "--eval_seed=777", "--eval_max_num_considered_actions=16"],
    ["--mode=pack", "--csv_path=c.csv", "--max_num_items=60", "--pack_policy=greedy", "--seed=2"],
    ["--mode=render", "--checkpoint=w", "--num_renders=2", "--min_support=0.8"],
    ["--mode=baselines", "--max_num_items=50", "--rotations=upright"],
    ["--flagfile=ppo.flags"],  # a trainer ignores the other trainer's settings (distill.flags' here)
])
def test_the_flags_a_mode_reads_are_accepted(arguments):
  app.parse_config(arguments)


def test_a_trained_run_keeps_its_settings_but_for_those_given():
  trained = workdir_lib.load_config(TRAINED / "config.json")
  command_line = config_lib.Config(mode="eval", checkpoint=str(TRAINED), max_num_items=50, max_num_ems=100,
                                   obs_num_ems=100, eval_seed=777, num_layers=7)
  merged = settings.for_trained_run(command_line, trained,
                                    given=["mode", "checkpoint", "max_num_items", "max_num_ems", "eval_seed"])
  assert (merged.max_num_items, merged.max_num_ems, merged.eval_seed) == (50, 100, 777)
  # Not given: the trained run's (its evaluation's search, its observed EMSs); the network always.
  assert merged.obs_num_ems == trained.obs_num_ems
  assert merged.eval_max_num_considered_actions == trained.eval_max_num_considered_actions
  assert merged.num_layers == trained.num_layers and merged.mode == "eval"
  with pytest.raises(UsageError, match="--obs_num_ems=100 cannot exceed --max_num_ems=6"):
    settings.for_trained_run(command_line, trained, given=["obs_num_ems"])


def test_the_command_line_refuses_an_unread_flag_in_one_line_exit_2(tmp_path):
  result = subprocess.run([sys.executable, "run.py", "--mode=eval", f"--checkpoint={TRAINED}",
                           "--key_size=32"], cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert result.returncode == 2
  assert len(result.stderr.strip().splitlines()) == 1
  assert result.stderr.startswith("error: --mode=eval does not read --key_size (the network")


@pytest.mark.slow
def test_eval_runs_a_network_trained_on_5_items_on_12():
  result = subprocess.run([sys.executable, "run.py", "--mode=eval", f"--checkpoint={TRAINED}",
                           "--max_num_items=12", "--max_num_ems=24", "--obs_num_ems=24",
                           "--eval_num_episodes=8", "--progress=false"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr
  greedy = next(line for line in result.stdout.splitlines() if line.startswith("| network, greedy"))
  assert 0.0 < float(greedy.split("|")[2]) <= 1.0
