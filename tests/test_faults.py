"""Faults a training run must survive, produced for real: killed processes, signals, NaN, damaged files.

Each killed run is a real `python run.py` process stopped by a real signal; it
is then resumed by running the same command, and its metrics.jsonl must equal
an uninterrupted run's record for record (timings aside). The processes share
the session's persistent compilation cache (conftest.py), so a restart loads
the programs an earlier process compiled, as a restart on a user's machine with
`JAX_COMPILATION_CACHE_DIR` set would.
"""
import dataclasses
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purepi.cli import train
from purepi.config import Config
from purepi.errors import NonFiniteError, UsageError
from purepi.env.make import make_env
from purepi.networks import make_network
from purepi.training import trained_networks
from purepi.training.loop import run_experiment
from tests.trainer_runs import without_timings

pytestmark = pytest.mark.slow  # the fast tier leaves this file out (README, "Tests")

ROOT = Path(__file__).resolve().parent.parent
TINY_FLAGS = ["--max_num_items=5", "--obs_num_ems=6", "--max_num_ems=6", "--num_layers=1",
              "--num_heads=2", "--key_size=4", "--mlp_units=8", "--rollout_batch_size=4",
              "--training_batch_size=8", "--num_simulations=2", "--max_num_considered_actions=2",
              "--eval_num_episodes=4", "--eval_num_simulations=2", "--eval_interval=3",
              "--save_interval=2", "--num_renders=0", "--progress=false", "--num_iterations=6",
              "--replay_iterations=2"]
# The same run in-process.
TINY = Config(max_num_items=5, obs_num_ems=6, max_num_ems=6, num_layers=1, num_heads=2, key_size=4,
              mlp_units=(8,), rollout_batch_size=4, training_batch_size=8, num_simulations=2,
              max_num_considered_actions=2, eval_num_episodes=4, eval_num_simulations=2,
              eval_interval=3, save_interval=2, num_renders=0, progress=False, num_iterations=6,
              replay_iterations=2)


@pytest.fixture(scope="module")
def environment(subprocess_environment):
  """The subprocesses' environment: this session's devices and compilation cache (conftest.py)."""
  assert "xla_force_host_platform_device_count" in subprocess_environment["XLA_FLAGS"]
  return subprocess_environment


def start(workdir, environment):
  return subprocess.Popen([sys.executable, "run.py", *TINY_FLAGS, f"--workdir={workdir}"], cwd=ROOT,
                          env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def records(workdir):
  return [json.loads(line) for line in (Path(workdir) / "metrics.jsonl").read_text().splitlines()]


def run_to_the_end(workdir, environment):
  """Runs (or resumes) the tiny run in `workdir` to its end; its records, timings left out."""
  process = start(workdir, environment)
  _, stderr = process.communicate(timeout=600)
  assert process.returncode == 0, stderr
  return [without_timings(record) for record in records(workdir)]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, environment):
  return run_to_the_end(tmp_path_factory.mktemp("uninterrupted"), environment)


def checkpoint_steps(workdir):
  directory = Path(workdir) / "checkpoints"
  return sorted(int(path.name) for path in directory.iterdir() if path.name.isdigit()) if directory.exists() else []


def saving(workdir):
  directory = Path(workdir) / "checkpoints"
  return directory.exists() and any("tmp" in path.name for path in directory.iterdir())


def num_records(workdir):
  path = Path(workdir) / "metrics.jsonl"
  return len(path.read_text().splitlines()) if path.exists() else 0


# When to kill, in order: once metrics.jsonl holds `records` lines (more than when the process
# started, so each moment is reached by training, not by the restart), wait `delay`; "saving"
# waits for a checkpoint being written instead, and may miss (the run then finishes).
KILL_MOMENTS = (
    ("before the first checkpoint (saved at iteration 2)", 1, 0.0),
    ("during iteration 3, evaluated", 2, 0.3),
    ("while training iteration 5", 4, 0.1),
    ("at a random moment of iteration 6", 5, 0.17),
    ("during the last checkpoint save", "saving", 0.0),
)


def test_sigkill_at_any_moment_then_resume_equals_the_uninterrupted_run(tmp_path, environment,
                                                                        uninterrupted):
  workdir = tmp_path / "killed"
  killed_at = []
  for moment, records_reached, delay in KILL_MOMENTS:
    process = start(workdir, environment)
    reached = (lambda: saving(workdir)) if records_reached == "saving" else (
        lambda: num_records(workdir) >= records_reached)
    deadline = time.monotonic() + 300
    while process.poll() is None and not reached() and time.monotonic() < deadline:
      time.sleep(0.005)
    time.sleep(delay)
    if process.poll() is None:
      process.send_signal(signal.SIGKILL)
      killed_at.append((moment, num_records(workdir), checkpoint_steps(workdir)))
    process.communicate(timeout=60)
  assert len(killed_at) >= 4, f"the runs finished before most kills: {killed_at}"
  assert run_to_the_end(workdir, environment) == uninterrupted, killed_at


def test_sigterm_and_sigint_checkpoint_and_resume(tmp_path, environment, uninterrupted):
  workdir = tmp_path / "stopped"
  for stop_signal, status in ((signal.SIGTERM, 143), (signal.SIGINT, 130)):
    process = start(workdir, environment)
    first = num_records(workdir)
    while process.poll() is None and num_records(workdir) == first:
      time.sleep(0.005)
    process.send_signal(stop_signal)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == status, stderr
    assert "run the same command again to resume" in stderr.strip().splitlines()[-1]
    # The iteration under way finished and was checkpointed: nothing is redone on resume.
    assert checkpoint_steps(workdir)[-1] == num_records(workdir)
  assert run_to_the_end(workdir, environment) == uninterrupted


def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before(tmp_path, uninterrupted):
  workdir = tmp_path / "damaged"
  config = dataclasses.replace(TINY, keep_checkpoints=3, workdir=str(workdir))
  train.main(dataclasses.replace(config, num_iterations=4))
  for path in (workdir / "checkpoints" / "4").rglob("*"):
    if path.is_file():
      path.write_bytes(b"damaged")
  with pytest.warns(RuntimeWarning, match="checkpoint 4 .* cannot be read .* resuming from checkpoint 2"):
    train.main(dataclasses.replace(config, num_iterations=6))
  assert (workdir / "unreadable_checkpoints" / "4").is_dir()
  assert [without_timings(record) for record in records(workdir)] == uninterrupted


@pytest.fixture(scope="module")
def saved_at_every_iteration(tmp_path_factory, environment):
  """The tiny run stopped after iteration 3 with a checkpoint at each iteration (2 and 3 kept)."""
  workdir = tmp_path_factory.mktemp("saved_at_every_iteration")
  result = subprocess.run([sys.executable, "run.py", *TINY_FLAGS, "--num_iterations=3", "--save_interval=1",
                           f"--workdir={workdir}"], cwd=ROOT, env=environment, capture_output=True,
                          text=True, timeout=600)
  assert result.returncode == 0, result.stderr
  assert checkpoint_steps(workdir) == [2, 3] and num_records(workdir) == 3
  return workdir


def keep_first_records(count):
  def damage(workdir):
    path = workdir / "metrics.jsonl"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:count]))
  return damage


def tear_last_record(workdir):
  path = workdir / "metrics.jsonl"
  text = path.read_text()
  last = text.splitlines()[-1]
  path.write_text(text[:len(text) - len(last) // 2 - 1])


def delete_newest_checkpoint(workdir):
  shutil.rmtree(workdir / "checkpoints" / "3")


# What a crash or power loss can leave of the run stopped after iteration 3, and the warnings of
# the resumed run (None: none); it resumes with TINY_FLAGS, to iteration 6.
LOST_WRITES = {
    "checkpoint 3 kept, its record lost": (
        keep_first_records(2), "no record of iteration 3 .*: checkpoint 3 in .* deleted, resuming from "
        "checkpoint 2 to train those iterations again"),
    "checkpoint 3 kept, its record torn in half": (
        tear_last_record, "dropping the unfinished last line 3.*no record of iteration 3 .*: checkpoint 3 "
        "in .* deleted, resuming from checkpoint 2"),
    "record 3 kept, its checkpoint lost": (delete_newest_checkpoint, None),
    "checkpoints 2 and 3 kept, their records lost": (
        keep_first_records(1), "no record of iteration 2 .*: checkpoint 2, 3 in .* deleted, starting from "
        "iteration 0"),
}


@pytest.mark.parametrize("lost", LOST_WRITES)
def test_a_resumed_run_keeps_a_record_of_every_iteration_whatever_write_was_lost(
    tmp_path, environment, saved_at_every_iteration, uninterrupted, lost):
  """A checkpoint is never resumed from without its record (and those before it) in metrics.jsonl:
  the run goes back to the newest checkpoint that has them, so no iteration lacks a record."""
  damage, warning = LOST_WRITES[lost]
  workdir = tmp_path / "resumed"
  shutil.copytree(saved_at_every_iteration, workdir)
  damage(workdir)
  process = start(workdir, environment)
  _, stderr = process.communicate(timeout=600)
  assert process.returncode == 0, stderr
  if warning is None:
    assert "no record of iteration" not in stderr
  else:
    assert re.search(warning, stderr, re.DOTALL), stderr
  assert [without_timings(record) for record in records(workdir)] == uninterrupted


def test_no_readable_checkpoint_is_an_error_that_moves_nothing(tmp_path):
  workdir = tmp_path / "all_damaged"
  config = dataclasses.replace(TINY, workdir=str(workdir), num_iterations=2)
  train.main(config)
  for path in (workdir / "checkpoints").rglob("*"):
    if path.is_file():
      path.write_bytes(b"damaged")
  with pytest.raises(UsageError, match="no checkpoint in .* can be read"):
    train.main(dataclasses.replace(config, num_iterations=4))
  assert checkpoint_steps(workdir) == [2]


def test_a_non_finite_update_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
  """Two good iterations, then (resumed) an update that turns the parameters into NaN."""
  workdir = tmp_path / "nan"
  config = dataclasses.replace(TINY, workdir=str(workdir))
  train.main(dataclasses.replace(config, num_iterations=2))
  env, network = make_env(TINY), make_network(TINY)
  algorithm = train.ALGORITHMS["distill"](TINY, env, network)

  def update_that_breaks(state, batch, key):
    state, metrics = algorithm.update(state, batch, key)
    return state._replace(params=jax.tree.map(lambda leaf: leaf * jnp.nan, state.params)), metrics

  with pytest.raises(NonFiniteError, match="iteration 3: non-finite parameters"):
    run_experiment(dataclasses.replace(config, num_iterations=5),
                   algorithm._replace(update=update_that_breaks), env, network)
  assert [record["iteration"] for record in records(workdir)] == [1, 2]
  assert checkpoint_steps(workdir) == [2]
  params, _ = trained_networks.load_params(str(workdir))
  assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(params))


def test_run_py_exits_3_on_a_non_finite_loss_and_writes_no_metrics(tmp_path, environment):
  workdir = tmp_path / "diverged"
  result = subprocess.run([sys.executable, "run.py", *TINY_FLAGS, "--learning_rate=1e30",
                           f"--workdir={workdir}"], cwd=ROOT, env=environment, capture_output=True,
                          text=True, timeout=600)
  assert result.returncode == 3, result.stderr
  assert result.stderr.strip().splitlines()[-1].startswith("error: iteration 1: non-finite")
  assert not (workdir / "metrics.jsonl").exists() and checkpoint_steps(workdir) == []


def test_metrics_lines_are_strict_json_and_a_torn_last_line_is_dropped(tmp_path):
  from purepi.training import workdir as workdir_lib
  path = tmp_path / "metrics.jsonl"
  workdir_lib.append_metrics(path, {"iteration": 1, "eval_greedy_ci95": float("nan")})
  workdir_lib.append_metrics(path, {"iteration": 2, "loss": 0.5})
  assert json.loads(path.read_text().splitlines()[0])["eval_greedy_ci95"] is None
  with path.open("a") as file:
    file.write('{"iteration": 3, "lo')
  with pytest.warns(RuntimeWarning, match=f"{path}: dropping the unfinished last line 3"):
    assert [record["iteration"] for record in workdir_lib.read_metrics(path)] == [1, 2]
  path.write_text('{"iteration": 1}\nnot json\n{"iteration": 3}\n')
  with pytest.raises(UsageError, match="line 2: not a JSON record"):
    workdir_lib.read_metrics(path)


@pytest.mark.parametrize("workdir, message", [
    ("", "--workdir is empty"),
    ("{file}", "is a file, not a directory"),
    ("{file}/below", "cannot be created"),
    ("/sys", "is not writable"),  # a read-only file system, which even root cannot write
])
def test_a_workdir_that_cannot_hold_a_run_is_a_usage_error(tmp_path, workdir, message):
  (tmp_path / "a_file").write_text("")
  workdir = workdir.format(file=tmp_path / "a_file")
  with pytest.raises(UsageError, match=message):
    train.main(dataclasses.replace(TINY, workdir=workdir, num_iterations=1))


def test_run_py_reports_a_usage_error_in_one_line_with_exit_2(tmp_path):
  result = subprocess.run([sys.executable, "run.py", *TINY_FLAGS, "--workdir=/sys"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 2
  assert result.stderr.strip().splitlines() == ["error: --workdir=/sys is not writable (Permission denied)"]


def test_config_json_is_written_only_once_the_run_has_initialised(tmp_path):
  workdir = tmp_path / "refused"
  config = dataclasses.replace(TINY, workdir=str(workdir), rollout_batch_size=100_000_000,
                               training_batch_size=8)
  with pytest.raises(UsageError, match="GiB .* available: lower the batch sizes"):
    train.main(config)
  assert not (workdir / "config.json").exists()
  # The corrected command is then a fresh run, not a refused resume.
  train.main(dataclasses.replace(config, rollout_batch_size=4, num_iterations=1))
  assert json.loads((workdir / "config.json").read_text())["rollout_batch_size"] == 4


def test_a_moved_or_respelled_workdir_resumes(tmp_path, monkeypatch):
  config = dataclasses.replace(TINY, workdir=str(tmp_path / "here"), num_iterations=2)
  train.main(config)
  shutil.move(str(tmp_path / "here"), str(tmp_path / "there"))
  monkeypatch.chdir(tmp_path)
  train.main(dataclasses.replace(config, workdir="./there/", num_iterations=3))
  assert [record["iteration"] for record in records(tmp_path / "there")] == [1, 2, 3]


def test_resuming_with_a_run_defining_change_names_the_flag_and_both_values(tmp_path):
  config = dataclasses.replace(TINY, workdir=str(tmp_path / "cosine"), num_iterations=1,
                               learning_rate_schedule="cosine", replay_iterations=1)
  train.main(config)
  with pytest.raises(UsageError, match=r"--num_iterations: 1 stored, 2 now \(the cosine learning "
                                       r"rate decays over them: a longer run, --budget included, is a new run\)"):
    train.main(dataclasses.replace(config, num_iterations=2))
  with pytest.raises(UsageError, match=r"--learning_rate: 0.001 stored, 0.002 now"):
    train.main(dataclasses.replace(config, learning_rate=2e-3))
  # Reporting settings may change.
  train.main(dataclasses.replace(config, eval_interval=5, num_renders=0, keep_checkpoints=4))


def test_resuming_ignores_the_settings_of_the_other_trainer():
  from purepi.training.workdir import check_resumable
  ppo = dataclasses.replace(TINY, mode="ppo", num_simulations=8, clip_eps=0.2)
  check_resumable(ppo, dataclasses.replace(ppo, num_simulations=16, value_loss_weight=10.0,
                                           replay_iterations=4, max_num_considered_actions=8,
                                           search_value_scale=0.03))
  with pytest.raises(UsageError, match=r"--eval_max_num_considered_actions: 2 stored, 4 now"):
    check_resumable(dataclasses.replace(ppo, eval_max_num_considered_actions=2),
                    dataclasses.replace(ppo, eval_max_num_considered_actions=4))
  with pytest.raises(UsageError, match=r"--clip_eps: 0.2 stored, 0.1 now"):
    check_resumable(ppo, dataclasses.replace(ppo, clip_eps=0.1))
  distill = dataclasses.replace(TINY, mode="distill", num_simulations=8)
  check_resumable(distill, dataclasses.replace(distill, clip_eps=0.1, entropy_coef=0.0))
  with pytest.raises(UsageError, match=r"--num_simulations: 8 stored, 16 now"):
    check_resumable(distill, dataclasses.replace(distill, num_simulations=16))


def test_unknown_or_damaged_config_json_names_the_file(tmp_path):
  from purepi.training import workdir as workdir_lib
  path = tmp_path / "config.json"
  path.write_text(json.dumps(dict(dataclasses.asdict(TINY), mlp_units=[8], surprise=1)))
  with pytest.raises(UsageError, match=f"{path}: unknown setting"):
    workdir_lib.load_config(path)
  path.write_text('{"mode": "dis')
  with pytest.raises(UsageError, match=f"{path}: not valid JSON"):
    workdir_lib.load_config(path)
