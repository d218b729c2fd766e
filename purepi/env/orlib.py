"""Container-loading instances in OR-Library's format: the Bischoff-Ratcliff classes BR0-BR15.

A file holds P problems (its first number); each problem is

  p seed          the problem's number and its generator's seed
  L W H           the container's length, width and height
  n               the number of box types
  i l a w b h c q one line per type: its length l, width w and height h, each followed by 1 when
                  the box may stand with that side vertical (0 if not), and its quantity q

so a type's flags `a b c` are the orientation rule "abc" of `purepi.env.orientations.orientation_rule`
(a side flagged 1 may be vertical, the box turned any way about it). `read_problems` reads every
problem of a file, checking each number as it goes; `BRProblem.rows` gives the rows that
`purepi.pack` and `ItemListGenerator` take.
"""
import os
from typing import List, NamedTuple, Tuple

from purepi.errors import UsageError

MAX_FILE_BYTES = 8 << 20


class BoxType(NamedTuple):
  length: int
  width: int
  height: int
  rule: str  # three 0/1 flags: length, width, height may stand vertical
  quantity: int


class BRProblem(NamedTuple):
  number: int  # 1 for the file's first problem
  container: Tuple[int, int, int]
  box_types: Tuple[BoxType, ...]

  @property
  def rows(self) -> List[tuple]:
    """`(name, length, width, height, quantity, rule)` per type, named `type 1`, `type 2`, ..."""
    return [(f"type {index}", box.length, box.width, box.height, box.quantity, box.rule)
            for index, box in enumerate(self.box_types, start=1)]

  @property
  def num_boxes(self) -> int:
    return sum(box.quantity for box in self.box_types)


def read_problems(path) -> List[BRProblem]:
  """Every problem of the OR-Library file `path`, in order.

  Raises:
    UsageError naming the file, the problem and what is wrong: a missing file, a file cut short,
    a number that is not an integer, a length or quantity that is not positive, a flag not 0 or 1,
    a box type with no side allowed vertical.
  """
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise UsageError(f"{path}: no such file")
  if os.path.getsize(path) > MAX_FILE_BYTES:
    raise UsageError(f"{path}: {os.path.getsize(path)} bytes, more than a problem file needs ({MAX_FILE_BYTES})")
  with open(path, "rb") as file:
    tokens = file.read().split()
  position = 0
  where = path

  def take(what: str, lowest: int = 1, highest: int = None) -> int:
    nonlocal position
    if position >= len(tokens):
      raise UsageError(f"{where}: the file ends where {what} should be (cut short?)")
    token = tokens[position]
    position += 1
    try:
      value = int(token)
    except ValueError:
      raise UsageError(f"{where}: {what} must be an integer, got {token.decode(errors='replace')!r}") from None
    if value < lowest or (highest is not None and value > highest):
      bounds = f"in {lowest}..{highest}" if highest is not None else ("positive" if lowest == 1 else f">= {lowest}")
      raise UsageError(f"{where}: {what} must be {bounds}, got {value}")
    return value

  num_problems = take("the number of problems")
  problems = []
  for number in range(1, num_problems + 1):
    where = f"{path}, problem {number}"
    take("the problem's number", lowest=0)
    take("the problem's seed", lowest=0)
    container = tuple(take(f"the container's {side}") for side in ("length", "width", "height"))
    num_types = take("the number of box types")
    box_types = []
    for type_number in range(1, num_types + 1):
      what = f"box type {type_number}"
      take(f"{what}'s index", lowest=0)
      sides, flags = [], ""
      for side in ("length", "width", "height"):
        sides.append(take(f"{what}'s {side}"))
        flags += str(take(f"{what}'s {side} flag", lowest=0, highest=1))
      if flags == "000":
        raise UsageError(f"{where}: {what} may stand on no side (flags 0 0 0)")
      box_types.append(BoxType(*sides, flags, take(f"{what}'s quantity")))
    problems.append(BRProblem(number, container, tuple(box_types)))
  if position != len(tokens):
    raise UsageError(f"{path}: {len(tokens) - position} numbers after the last of its {num_problems} problems")
  return problems
