"""Which errors are a file that could not be written (`purepi.errors.write_failure`)."""
import errno
import os

import pytest

from purepi.errors import WriteError, naming, write_failure


def test_an_os_error_of_a_full_or_read_only_disk_names_its_file_and_reason():
  failure = write_failure(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/runs/a/metrics.jsonl"))
  assert str(failure) == "could not write /runs/a/metrics.jsonl (No space left on device)"
  assert write_failure(OSError(errno.EROFS, "", "x")).reason == "Read-only file system"


def test_tensorstore_reports_the_os_error_code_in_its_message_through_orbax():
  raised_by_orbax = ValueError('RESOURCE_EXHAUSTED: Error writing "params/.zarray": Failed to write '
                               "256 bytes to file 25: No space left on device [os_error_code='28']")
  try:
    try:
      raise raised_by_orbax
    except ValueError as error:
      raise RuntimeError("save failed") from error
  except RuntimeError as error:
    assert write_failure(error).reason == "No space left on device"


@pytest.mark.parametrize("error", [ValueError("bad value"), OSError(errno.ENOENT, "No such file", "x"),
                                   ValueError("os_error_code='2'"), KeyError("step")])
def test_other_errors_are_not_write_failures(error):
  assert write_failure(error) is None


def test_naming_gives_a_nameless_write_error_its_file_and_stopped_says_what_was_kept(tmp_path):
  with pytest.raises(OSError) as raised:
    with naming(tmp_path / "plan.csv"):
      raise OSError(errno.ENOSPC, "No space left on device")
  failure = write_failure(raised.value).stopped("checkpoint 4 is the newest complete one")
  assert isinstance(failure, WriteError)
  assert str(failure) == (f"could not write {tmp_path / 'plan.csv'} (No space left on device); "
                          "checkpoint 4 is the newest complete one")
