"""`--budget`: the same recipe trained for a multiple of its iterations (README, "Results")."""
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from purepi.cli import app, train
from purepi.errors import UsageError
from tests.test_faults import TINY
from tests.trainer_runs import run_and_read_metrics, without_timings

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("num_iterations, budget, total", [(96, 1, 96), (96, 4, 384), (180, 2, 360),
                                                           (3, 2.5, 8), (5, 1.5, 8)])
def test_budget_multiplies_the_iterations_once_and_rounds_half_up(num_iterations, budget, total):
  config = app.parse_config([f"--num_iterations={num_iterations}", f"--budget={budget}"])
  assert (config.num_iterations, config.budget) == (total, budget)


def test_the_flag_files_at_four_times_the_budget_keep_their_recipe():
  for flag_file, iterations in (("distill.flags", 384), ("ppo.flags", 720)):
    plain = app.parse_config([f"--flagfile={flag_file}"])
    scaled = app.parse_config([f"--flagfile={flag_file}", "--budget=4"])
    assert scaled.num_iterations == iterations
    assert dataclasses.replace(scaled, num_iterations=plain.num_iterations, budget=1.0) == plain


@pytest.mark.parametrize("value, message", [
    ("0.5", "error: --budget must be >= 1, got 0.5"),
    ("0", "error: --budget must be >= 1, got 0.0"),
    ("nan", "error: --budget must be a finite number, got nan"),
    ("four", "error: flag --budget=four: could not convert string to float: 'four'"),
])
def test_a_bad_budget_is_one_line_exit_2_and_writes_nothing(tmp_path, value, message):
  workdir = tmp_path / "run"
  result = subprocess.run([sys.executable, "run.py", f"--budget={value}", f"--workdir={workdir}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert (result.returncode, result.stderr.strip().splitlines()) == (2, [message])
  assert not workdir.exists()


@pytest.mark.slow
def test_a_longer_budget_continues_a_constant_rate_run_exactly_and_refuses_a_decaying_one(tmp_path):
  ppo = dataclasses.replace(TINY, mode="ppo", replay_iterations=1, num_iterations=2, eval_interval=2)
  longer = dataclasses.replace(ppo, budget=2.0, num_iterations=4)  # what --budget=2 gives
  straight = run_and_read_metrics(longer, tmp_path / "straight")
  run_and_read_metrics(ppo, tmp_path / "continued")
  continued = run_and_read_metrics(longer, tmp_path / "continued")
  assert [without_timings(r) for r in continued] == [without_timings(r) for r in straight]

  distill = dataclasses.replace(TINY, num_iterations=1, learning_rate_schedule="cosine",
                                replay_iterations=1, workdir=str(tmp_path / "cosine"))
  train.main(distill)
  with pytest.raises(UsageError, match=r"--num_iterations: 1 stored, 2 now \(the cosine learning rate "
                                       r"decays over them: a longer run, --budget included, is a new run"):
    train.main(dataclasses.replace(distill, budget=2.0, num_iterations=2))
