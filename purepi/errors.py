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

Anything else is a bug and keeps its traceback.
"""


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
