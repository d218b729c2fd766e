"""The ways a run can stop that a person running purepi must tell apart from a bug.

`UsageError`: what was asked for cannot be done as asked (a bad flag, a bad
CSV, a workdir that holds another run). The command line prints its message
as one line and exits with status 2; nothing has been written by then, or
what was written is complete and reusable.

`NonFiniteError`: training produced a NaN or an infinity. The command line
prints one line naming the iteration and the quantity and exits with status 3;
the last checkpoint (written before the fault) is kept and nothing non-finite
is saved.

`Interrupted`: SIGINT or SIGTERM asked training to stop; it stopped after
the iteration under way, saved a checkpoint, and the command line exits with
128 + the signal number (130, 143). The same command resumes.

`WriteError`: a file of the run could not be written (the disk is full, the
directory became read-only, a quota ran out). The command line prints one line
naming the file and the system's reason and exits with status 74 (sysexits'
EX_IOERR); every checkpoint that completed is kept, and the same command
resumes once the file can be written.

Anything else is a bug and keeps its traceback.
"""
import contextlib
import errno
import os
import re

# The system's reasons for a write to fail that a person can mend (free space, remount, quota).
WRITE_FAILURES = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.EIO)
# Tensorstore (under orbax) reports an OS error in its message, not as an OSError.
_TENSORSTORE_OS_ERROR = re.compile(r"os_error_code='(\d+)'")


class UsageError(ValueError):
  """A user's mistake, described in one line that names what to change."""


class NonFiniteError(ArithmeticError):
  """A loss, gradient or parameter stopped being finite during training."""

  def __init__(self, iteration: int, quantities):
    self.iteration = iteration
    self.quantities = tuple(quantities)
    super().__init__(f"iteration {iteration}: non-finite {', '.join(self.quantities)}; "
                     "training stopped, the last checkpoint is kept (nothing non-finite was saved)")


class Interrupted(Exception):
  """SIGINT or SIGTERM stopped training at a safe point, after a checkpoint was saved."""

  def __init__(self, signal_number: int, iteration: int, workdir: str):
    self.signal_number = signal_number
    self.exit_status = 128 + signal_number  # the shell's convention: 130 for SIGINT, 143 for SIGTERM
    super().__init__(f"stopped by signal {signal_number} after iteration {iteration}; its checkpoint "
                     f"is in {workdir}: run the same command again to resume")


class WriteError(OSError):
  """A file could not be written for a reason outside purepi (`WRITE_FAILURES`)."""

  def __init__(self, path, reason: str, after: str = ""):
    self.path, self.reason, self.after = str(path), reason, after
    super().__init__(f"could not write {self.path} ({reason})" + (f"; {after}" if after else ""))

  def stopped(self, after: str) -> "WriteError":
    """The same failure, saying what the run kept and how to go on."""
    return WriteError(self.path, self.reason, after)


@contextlib.contextmanager
def naming(path):
  """Writes to `path` in the block: an OSError that does not name its file (a failed `write`
  does not) names `path`, so a full disk is reported with the file it stopped."""
  try:
    yield
  except OSError as error:
    if not error.filename:
      error.filename = str(path)
    raise


def write_failure(error: BaseException):
  """The `WriteError` that `error` (or an exception it was raised from) amounts to, else None.

  An `OSError` of `WRITE_FAILURES` names its file; orbax's checkpoint writes fail inside
  tensorstore, which puts the OS error code in its message.
  """
  while error is not None:
    if isinstance(error, WriteError):
      return error
    if isinstance(error, OSError) and error.errno in WRITE_FAILURES:
      return WriteError(error.filename or "a file of the run", os.strerror(error.errno))
    code = _TENSORSTORE_OS_ERROR.search(str(error))
    if code and int(code.group(1)) in WRITE_FAILURES:
      return WriteError("a checkpoint", os.strerror(int(code.group(1))))
    error = error.__cause__ or error.__context__
  return None
