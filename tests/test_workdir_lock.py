"""One workdir, one run: a second process on a busy workdir is refused, a killed holder frees it.

Real processes: `python run.py` started, refused and killed with SIGKILL, as a
second terminal or a job scheduler retrying a command would.
"""
import os
import signal
import subprocess
import sys
import time

import pytest

from purepi.training import workdir as workdir_lib
from tests.test_faults import (ROOT, TINY_FLAGS, environment, run_to_the_end, start,  # noqa: F401
                               uninterrupted)

pytestmark = pytest.mark.slow


def wait_until_held(workdir, process, timeout_s=300):
  lock = workdir / workdir_lib.LOCK_FILE
  deadline = time.monotonic() + timeout_s
  while not (lock.exists() and f"pid {process.pid} " in lock.read_text()):
    assert process.poll() is None, process.communicate()[1]
    assert time.monotonic() < deadline, "the run never took its workdir's lock"
    time.sleep(0.1)


def test_a_second_run_is_refused_however_the_path_is_spelled_and_a_killed_holder_frees_it(
    tmp_path, environment, uninterrupted):
  workdir = tmp_path / "busy"
  holder = start(workdir, environment)
  wait_until_held(workdir, holder)
  respelled = f"{tmp_path}/./busy/../busy"
  second = subprocess.run([sys.executable, "run.py", *TINY_FLAGS, f"--workdir={respelled}"],
                          cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120)
  assert second.returncode == 2
  lines = second.stderr.strip().splitlines()
  assert len(lines) == 1, second.stderr
  assert lines[0].startswith(f"error: --workdir={respelled} is in use by pid {holder.pid} (")
  assert "run.py" in lines[0]

  holder.send_signal(signal.SIGKILL)
  holder.wait()
  # At once: the kernel released the lock with the process, so nothing stale blocks the resume; one
  # writer at a time, so the records are the uninterrupted run's, none twice, none interleaved.
  assert run_to_the_end(workdir, environment) == uninterrupted


def test_every_writing_mode_is_refused_on_a_held_workdir(tmp_path, environment):
  """This process holds the workdir; `compare`, `pack` and `render` started on it stop in one line."""
  workdir = tmp_path / "held"
  csv = tmp_path / "load.csv"
  csv.write_text("Item_Name,Length,Width,Height,Quantity\nbox,1000,1000,1000,2\n")
  commands = [["--mode=compare", f"--workdirs={tmp_path}"],
              ["--mode=pack", f"--csv_path={csv}", f"--checkpoint={tmp_path}"],
              ["--mode=render", f"--checkpoint={tmp_path}"]]
  with workdir_lib.exclusive(str(workdir)):
    for command in commands:
      before = sorted(path.name for path in workdir.iterdir())
      result = subprocess.run([sys.executable, "run.py", *command, f"--workdir={workdir}"], cwd=ROOT,
                              env=environment, capture_output=True, text=True, timeout=120)
      assert result.returncode == 2, (command, result.stderr)
      assert result.stderr.strip() == (
          f"error: --workdir={workdir} is in use by pid {os.getpid()} "
          f"({' '.join(sys.argv)}): one run at a time writes into a workdir; wait for it to end, "
          "or choose another --workdir")
      assert sorted(path.name for path in workdir.iterdir()) == before
