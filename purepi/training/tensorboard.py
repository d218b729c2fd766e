"""TensorBoard event files of a run (`--tensorboard`, the optional `tensorboard` extra).

Every number of every metrics record (losses, entropy, gradient norm, returns,
decisions/s, the held-out evaluation) becomes a scalar at its iteration, in
`WORKDIR/tensorboard/`. Start TensorBoard on one run or on a folder of runs:

  tensorboard --logdir workdirs
"""
import time
from pathlib import Path

from purepi.errors import UsageError


class ScalarWriter:
  """Appends scalars to one event file with TensorBoard's own writer (no TensorFlow needed)."""

  def __init__(self, directory: Path):
    try:
      from tensorboard.compat.proto import event_pb2, summary_pb2
      from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError:
      raise UsageError("--tensorboard needs the tensorboard package: pip install -e '.[tensorboard]'") from None
    self._event_pb2, self._summary_pb2 = event_pb2, summary_pb2
    directory.mkdir(parents=True, exist_ok=True)
    self._writer = EventFileWriter(str(directory))

  def write(self, record) -> None:
    """One event at `record["iteration"]` with every other numeric entry as a scalar."""
    values = [self._summary_pb2.Summary.Value(tag=name, simple_value=float(value))
              for name, value in record.items()
              if name != "iteration" and isinstance(value, (int, float)) and not isinstance(value, bool)]
    self._writer.add_event(self._event_pb2.Event(
        wall_time=time.time(), step=int(record["iteration"]),
        summary=self._summary_pb2.Summary(value=values)))
    self._writer.flush()

  def close(self) -> None:
    self._writer.close()
