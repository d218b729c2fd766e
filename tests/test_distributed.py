"""Training across processes: 2 local CPU processes of 1 device each against 1 process of 2 devices.

The two processes are joined by JAX's distributed runtime (gloo collectives on
the CPU), exactly as two machines would be. Each `run.py` process is a real
subprocess; the reference runs in this process, whose two host devices come
from conftest.py.
"""
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from purepi.config import Config
from purepi.training.checkpoints import Checkpointer
from purepi.errors import UsageError
from purepi.training.distributed import rendezvous, split_address
from tests.trainer_runs import run_and_read_metrics, without_timings

pytestmark = pytest.mark.slow  # the fast tier leaves this file out (README, "Tests")

ROOT = Path(__file__).resolve().parent.parent
# Evaluation only at the last iteration, so that a kill after the first checkpoints lands before it.
RUN = dict(max_num_items=5, obs_num_ems=6, max_num_ems=6, num_layers=1, num_heads=2, key_size=4,
           mlp_units=(8,), rollout_batch_size=4, training_batch_size=8, num_simulations=2,
           max_num_considered_actions=2, eval_num_episodes=4, eval_num_simulations=2,
           eval_interval=3, save_interval=1, num_renders=0, progress=False, num_iterations=3,
           replay_iterations=2)


def free_port() -> int:
  with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    return probe.getsockname()[1]


def flags(values):
  return [f"--{name}={','.join(map(str, value)) if isinstance(value, tuple) else value}"
          for name, value in values.items()]


@pytest.fixture
def one_device_environment(subprocess_environment):
  """A subprocess of one CPU device, with the session's compilation cache (conftest.py)."""
  return dict(subprocess_environment, XLA_FLAGS="--xla_force_host_platform_device_count=1")


def start_processes(environment, workdir, num_processes, port, timeout_s=60, extra=()):
  """`num_processes` run.py processes of one device each, joined at 127.0.0.1:`port`."""
  return [subprocess.Popen(
      [sys.executable, "run.py", *flags(RUN), f"--workdir={workdir}",
       f"--coordinator_address=127.0.0.1:{port}", f"--num_processes={num_processes}",
       f"--process_id={process_id}", f"--distributed_timeout_s={timeout_s}", *extra],
      cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
      for process_id in range(num_processes)]


def finish(processes, timeout_s=300):
  outputs = [process.communicate(timeout=timeout_s) for process in processes]
  return [(process.returncode, stderr) for process, (_, stderr) in zip(processes, outputs)]


def final_params(workdir):
  return Checkpointer(Path(workdir) / "checkpoints").restore_to_host()["params"]


def test_two_processes_train_like_one_process_with_two_devices_and_resume_after_a_kill(
    tmp_path, one_device_environment):
  config = Config(**RUN)
  reference = run_and_read_metrics(config, tmp_path / "one_process")

  workdir = tmp_path / "two_processes"
  port = free_port()
  processes = start_processes(one_device_environment, workdir, 2, port)
  deadline = time.monotonic() + 240
  while not (workdir / "checkpoints" / "1").is_dir():
    assert time.monotonic() < deadline, finish(processes, 5)
    assert all(process.poll() is None for process in processes), finish(processes)
    time.sleep(0.2)
  for process in processes:
    process.send_signal(signal.SIGKILL)
  finish(processes)

  processes = start_processes(one_device_environment, workdir, 2, free_port())
  for returncode, stderr in finish(processes):
    assert returncode == 0, stderr[-3000:]
  resumed = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  assert [record["iteration"] for record in resumed] == [1, 2, 3]
  assert len(resumed) == len(reference)
  for ours, theirs in zip(resumed, reference):
    ours, theirs = without_timings(ours), without_timings(theirs)
    assert ours.keys() == theirs.keys()
    for name in ours:
      np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-5, atol=1e-6, err_msg=name)
  ours, theirs = final_params(workdir), final_params(tmp_path / "one_process")
  for leaf_ours, leaf_theirs in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs)):
    np.testing.assert_allclose(leaf_ours, leaf_theirs, rtol=1e-5, atol=1e-6)
  # Only process 0 wrote the run's files.
  assert (workdir / "config.json").exists() and (workdir / "learning_curve.png").exists()


def test_a_signal_to_one_process_stops_every_process_after_the_same_iteration(
    tmp_path, one_device_environment):
  """SIGTERM reaches process 1 only; a checkpoint save is collective, so both must stop together."""
  workdir = tmp_path / "run"
  processes = start_processes(one_device_environment, workdir, 2, free_port(),
                              extra=["--num_iterations=1000", "--eval_interval=1000",
                                     "--save_interval=1000"])
  deadline = time.monotonic() + 240
  while not (workdir / "metrics.jsonl").exists() or not (workdir / "metrics.jsonl").read_text():
    assert time.monotonic() < deadline, finish(processes, 5)
    assert all(process.poll() is None for process in processes), finish(processes)
    time.sleep(0.2)
  processes[1].send_signal(signal.SIGTERM)
  outcomes = finish(processes)
  stopped_after = set()
  for returncode, stderr in outcomes:
    assert returncode == 143, stderr[-3000:]
    line = stderr.strip().splitlines()[-1]
    assert line.startswith("stopped by signal 15 after iteration "), line
    stopped_after.add(int(line.split("after iteration ")[1].split(";")[0]))
  assert len(stopped_after) == 1
  iteration = stopped_after.pop()
  assert Checkpointer(workdir / "checkpoints").latest_iteration() == iteration
  records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  assert records[-1]["iteration"] == iteration


def test_an_unreachable_coordinator_fails_in_bounded_time_in_one_line(tmp_path, one_device_environment):
  port = free_port()
  start = time.monotonic()
  result = subprocess.run(
      [sys.executable, "run.py", *flags(RUN), f"--workdir={tmp_path / 'run'}",
       f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2", "--process_id=1",
       "--distributed_timeout_s=3"],
      cwd=ROOT, env=one_device_environment, capture_output=True, text=True, timeout=120)
  assert result.returncode == 2
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1, result.stderr
  assert f"127.0.0.1:{port}" in lines[0] and "2 processes expected" in lines[0]
  assert time.monotonic() - start < 60
  assert not (tmp_path / "run" / "config.json").exists()


def test_a_wrong_process_count_fails_in_every_process_in_one_line(tmp_path, one_device_environment):
  """Started as 3 processes, but only 2 run: both stop at the deadline and say who is missing."""
  port = free_port()
  processes = [subprocess.Popen(
      [sys.executable, "run.py", *flags(RUN), f"--workdir={tmp_path / 'run'}",
       f"--coordinator_address=127.0.0.1:{port}", "--num_processes=3", f"--process_id={process_id}",
       "--distributed_timeout_s=3"],
      cwd=ROOT, env=one_device_environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
      for process_id in (0, 1)]
  for returncode, stderr in finish(processes, timeout_s=120):
    assert returncode == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert f"127.0.0.1:{port}" in lines[0] and "3 processes" in lines[0] and "missing --process_id 2" in lines[0]


@pytest.mark.parametrize("address", ["localhost", "localhost:", ":80", "host:99999", "host:port"])
def test_a_malformed_coordinator_address_is_refused(address):
  with pytest.raises(UsageError, match="is not HOST:PORT"):
    split_address(address)


def test_processes_that_disagree_on_the_count_are_told_so():
  """The rendezvous itself, in threads: process 1 says 3 processes, process 0 expects 2."""
  port = free_port()
  errors = {}

  def run(process_id, num_processes):
    try:
      rendezvous(f"127.0.0.1:{port}", num_processes, process_id, timeout_s=10)
    except UsageError as error:
      errors[process_id] = str(error)

  threads = [threading.Thread(target=run, args=(0, 2)), threading.Thread(target=run, args=(1, 3))]
  for thread in threads:
    thread.start()
  for thread in threads:
    thread.join(timeout=30)
  assert set(errors) == {0, 1}
  for message in errors.values():
    assert "--num_processes=3" in message and "--num_processes=2" in message


def test_a_rendezvous_of_matching_processes_succeeds_and_frees_the_port():
  port = free_port()
  errors = []

  def run(process_id):
    try:
      rendezvous(f"127.0.0.1:{port}", 3, process_id, timeout_s=10)
    except UsageError as error:
      errors.append(error)

  threads = [threading.Thread(target=run, args=(process_id,)) for process_id in (2, 0, 1)]
  for thread in threads:
    thread.start()
  for thread in threads:
    thread.join(timeout=30)
  assert not errors
  with socket.create_server(("", port)):  # JAX's service binds the same port next
    pass


def test_multi_process_flags_are_checked_before_anything_runs():
  from purepi.cli.app import parse_config
  with pytest.raises(UsageError, match="needs --coordinator_address"):
    parse_config(["--num_processes=2"])
  with pytest.raises(UsageError, match="--process_id=2 must be in 0..1"):
    parse_config(["--num_processes=2", "--process_id=2", "--coordinator_address=h:1"])
  with pytest.raises(UsageError, match="runs in one process"):
    parse_config(["--mode=eval", "--coordinator_address=h:1", "--num_processes=2"])
