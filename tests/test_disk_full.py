"""A disk that fills, or a file system remounted read-only, while a real run trains.

Each test mounts a small tmpfs in a mount namespace of its own (`unshare -m`, or `unshare -rm`
where only user namespaces are allowed), starts the tiny run of tests/test_faults.py on it, takes
the space away (or remounts it read-only) once the run's first checkpoint is complete (38 iterations before its end), and checks
that the run ends in one line naming the file and the system's reason, with exit status 74; then
it gives the space back, resumes with the same command, and compares the records with an
uninterrupted run's.
"""
import re
import shutil
import subprocess
import sys

import pytest

from tests.test_faults import ROOT, TINY_FLAGS, records
from tests.trainer_runs import without_timings

pytestmark = pytest.mark.slow

RUN_FLAGS = [*TINY_FLAGS, "--num_iterations=40"]

# Runs SCRIPT in a private mount namespace (the mounts vanish with it). $RUN is the tiny run's
# command without --workdir; $MOUNT the tmpfs; $OUT a directory outside it.
NAMESPACE_SCRIPT = """
set -u
mount -t tmpfs -o size=64m tmpfs "$MOUNT"
$RUN --workdir="$MOUNT/run" 2> "$OUT/stderr.txt" &
run=$!
until [ -d "$MOUNT/run/checkpoints/2" ] || ! kill -0 $run 2> /dev/null; do sleep 0.2; done
{take_away}
wait $run
echo $? > "$OUT/status.txt"
{give_back}
$RUN --workdir="$MOUNT/run" 2> "$OUT/resumed_stderr.txt"
echo $? > "$OUT/resumed_status.txt"
cp -a "$MOUNT/run" "$OUT/run"
"""
FILL = 'dd if=/dev/zero of="$MOUNT/filler" bs=1M 2> /dev/null'
FREE = 'rm "$MOUNT/filler"'
# A file system with a file open for writing cannot become read-only: retry between writes.
READ_ONLY = 'until mount -o remount,ro "$MOUNT" 2> /dev/null; do sleep 0.01; done'
READ_WRITE = 'mount -o remount,rw "$MOUNT"'


def _namespace_command():
  """`unshare` arguments that may mount a tmpfs here, or None with the reason."""
  if shutil.which("unshare") is None:
    return None, "no unshare command"
  for command in (["unshare", "-m"], ["unshare", "-rm"]):
    probe = subprocess.run([*command, "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"],
                           capture_output=True, text=True)
    if probe.returncode == 0:
      return command, ""
  return None, f"cannot mount a tmpfs in a mount namespace ({probe.stderr.strip()})"


NAMESPACE, WHY_NOT = _namespace_command()


def run_with_faulty_disk(tmp_path, take_away, give_back, environment):
  out = tmp_path / "out"
  out.mkdir()
  mount = tmp_path / "mount"
  mount.mkdir()
  run = " ".join([sys.executable, "run.py", *RUN_FLAGS])
  script = NAMESPACE_SCRIPT.format(take_away=take_away, give_back=give_back)
  subprocess.run([*NAMESPACE, "bash", "-c", script], cwd=ROOT, check=True, timeout=900,
                 env=dict(environment, RUN=run, MOUNT=str(mount), OUT=str(out)))
  return out


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, subprocess_environment):
  workdir = tmp_path_factory.mktemp("uninterrupted")
  subprocess.run([sys.executable, "run.py", *RUN_FLAGS, f"--workdir={workdir}"], cwd=ROOT, check=True,
                 env=subprocess_environment, capture_output=True, timeout=600)
  return [without_timings(record) for record in records(workdir)]


@pytest.mark.skipif(NAMESPACE is None, reason=WHY_NOT)
@pytest.mark.parametrize("take_away, give_back, reason", [
    (FILL, FREE, "No space left on device"),
    (READ_ONLY, READ_WRITE, "Read-only file system"),
], ids=["disk full", "read-only"])
def test_a_failed_write_is_one_line_exit_74_and_the_run_resumes_as_if_uninterrupted(
    tmp_path, take_away, give_back, reason, uninterrupted, subprocess_environment):
  out = run_with_faulty_disk(tmp_path, take_away, give_back, subprocess_environment)
  stderr = (out / "stderr.txt").read_text().splitlines()
  assert (out / "status.txt").read_text().strip() == "74", stderr
  assert len(stderr) == 1, stderr
  assert re.fullmatch(rf"error: could not write \S+.* \({reason}\); checkpoint \d+ is the newest "
                      r"complete one: free space \(or copy the workdir elsewhere\) and run the same "
                      r"command to resume from it", stderr[0]), stderr[0]
  assert (out / "resumed_status.txt").read_text().strip() == "0", (out / "resumed_stderr.txt").read_text()
  assert [without_timings(record) for record in records(out / "run")] == uninterrupted
