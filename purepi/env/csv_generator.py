"""The CSV file of a real container's load: item types, their lengths in millimetres and counts.

The file has the header `Item_Name,Length,Width,Height,Quantity` and one row per
item type; an optional last column `Rotation` says how each kind may turn (`none`,
`upright`, `any` or three 0/1 flags: `purepi.env.orientations.orientation_rule`; an
empty cell takes the caller's default rule). `read_items` reads one, checking every
size before anything is allocated for it (`listed_items` checks the same rows given in Python);
`purepi.env.generator.CSVGenerator` (`ItemListGenerator`) makes them an
instance, and `save_instance_to_csv` writes an instance back as such a file.
"""
import csv
import os
import unicodedata
from typing import Tuple

import numpy as np

from purepi.env.orientations import ORIENTATIONS, orientation_rule
from purepi.env.types import State
from purepi.errors import UsageError

CSV_COLUMNS = ("Item_Name", "Length", "Width", "Height", "Quantity")
RULE_COLUMN = "Rotation"
# Bounds on what a CSV may ask for, checked before anything is allocated.
MAX_CSV_ITEMS = 10_000
MAX_CSV_BYTES = 1 << 20


def read_items(csv_path, container_dims, max_num_items, permutations, default_rule: str = ""):
  """Returns the `[num_items, 3]` item lengths, each row repeated `Quantity` times, their names, and
  their `[num_items, 6]` orientation rules (None when the file has no `Rotation` column and
  `default_rule` is empty: every orientation of `permutations` allowed).

  Every size is checked before anything is allocated for it: the file's
  length, each row's lengths against the container, and the running item
  count against `max_num_items` (or `MAX_CSV_ITEMS`). UTF-8 with or without
  a byte-order mark is read; other bytes are an error naming their line.
  """
  if not os.path.isfile(csv_path):
    raise UsageError(f"{csv_path}: no such CSV file")
  if os.path.getsize(csv_path) > MAX_CSV_BYTES:
    raise UsageError(f"{csv_path}: {os.path.getsize(csv_path)} bytes, more than a CSV of at most "
                     f"{MAX_CSV_ITEMS} items needs ({MAX_CSV_BYTES} bytes)")
  with open(csv_path, "rb") as csv_file:
    raw_lines = csv_file.read().split(b"\n")
  text_lines = []
  for number, raw_line in enumerate(raw_lines, start=1):
    try:
      text_lines.append(raw_line.decode("utf-8-sig" if number == 1 else "utf-8"))
    except UnicodeDecodeError:
      raise UsageError(f"{csv_path}, line {number}: not UTF-8 text") from None
  rows = csv.reader(text_lines)

  def fail(problem):
    raise UsageError(f"{csv_path}, line {max(rows.line_num, 1)}: {problem}")

  def listed_rows():
    """(where, name, [length, width, height, quantity], rule) of each row, its fields checked."""
    header = [name.strip() for name in next(rows, None) or []]
    columns = list(CSV_COLUMNS) + ([RULE_COLUMN] if header[len(CSV_COLUMNS):] == [RULE_COLUMN] else [])
    if header != columns:
      missing = [name for name in CSV_COLUMNS if name not in header]
      fail(f"expected the header {','.join(CSV_COLUMNS)}[,{RULE_COLUMN}], got {','.join(header)!r}"
           + (f" (missing {', '.join(missing)})" if missing else ""))
    for row in rows:
      if not any(field.strip() for field in row):
        continue
      if len(row) != len(columns):
        fail(f"expected {len(columns)} fields ({','.join(columns)}), got {len(row)}")
      if [field.strip() for field in row] == columns:
        fail("the header again (were two files joined?)")
      name, *fields = row
      values = []
      for column, field in zip(CSV_COLUMNS[1:], fields):
        try:
          values.append(int(field))
        except ValueError:
          fail(f"{column} of {name!r} must be an integer, got {field!r}")
      yield f"{csv_path}, line {rows.line_num}", name, values, fields[4] if len(fields) > 4 else ""

  try:
    return checked_items(listed_rows(), container_dims, max_num_items, permutations, empty=f"{csv_path}",
                         default_rule=default_rule)
  except csv.Error as error:
    fail(f"not a CSV row ({error})")


def listed_items(items, container_dims, max_num_items, permutations, default_rule: str = ""):
  """`read_items` for items given in Python: `(name, length, width, height, quantity)` rows, each
  with an optional sixth field, its rotation rule.

  The same checks, each error naming the row (`item 3: ...`, counting from 1).
  """
  def listed_rows():
    for number, row in enumerate(items, start=1):
      if isinstance(row, (str, bytes)) or len(row) not in (len(CSV_COLUMNS), len(CSV_COLUMNS) + 1):
        raise UsageError(f"item {number}: expected ({', '.join(CSV_COLUMNS)}[, {RULE_COLUMN}]), got {row!r}")
      name, *values = row[:len(CSV_COLUMNS)]
      for column, value in zip(CSV_COLUMNS[1:], values):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
          raise UsageError(f"item {number}: {column} of {name!r} must be an integer, got {value!r}")
      rule = row[len(CSV_COLUMNS)] if len(row) > len(CSV_COLUMNS) else ""
      yield f"item {number}", str(name), [int(value) for value in values], str(rule)

  return checked_items(listed_rows(), container_dims, max_num_items, permutations, empty="items",
                       default_rule=default_rule)


def checked_items(rows, container_dims, max_num_items, permutations, empty: str, default_rule: str = ""):
  """The lengths, names and orientation rules of `rows` (`(where, name, [length, width, height,
  quantity], rule)`), each row checked before the next is read; a problem is a UsageError starting
  with its `where`. Rules are None when no row has one and `default_rule` is empty."""
  item_limit = MAX_CSV_ITEMS if max_num_items is None else min(max_num_items, MAX_CSV_ITEMS)
  dims, names, rules = [], [], []
  any_rule = bool(default_rule)
  for where, name, values, rule in rows:
    def fail(problem):
      raise UsageError(f"{where}: {problem}")

    if not name.strip():
      fail("the item name is empty")
    if any(unicodedata.category(character) == "Cc" for character in name):
      fail(f"the item name {name!r} holds a control character")
    for column, value in zip(CSV_COLUMNS[1:], values):
      if value <= 0:
        fail(f"{column} of {name!r} must be positive, got {value}")
    *lengths, quantity = values
    rule = rule.strip() or default_rule
    any_rule |= bool(rule)
    try:
      allowed = orientation_rule(rule) if rule else (True,) * len(ORIENTATIONS["all"])
    except ValueError as error:
      fail(f"{RULE_COLUMN} of {name!r}: {error}")
    # A row is refused when no orientation its rule allows (without a rule: that the run allows) fits
    # the container; one the run cannot place it in is simply never placed.
    allowed_permutations = ([permutation for permutation, ok in zip(ORIENTATIONS["all"], allowed) if ok]
                            if rule else list(permutations))
    if not any(all(lengths[axis] <= limit for axis, limit in zip(permutation, container_dims))
               for permutation in allowed_permutations):
      column, length, limit = next((column, length, limit) for column, length, limit
                                   in zip(CSV_COLUMNS[1:4], lengths, container_dims) if length > limit)
      turned = " in any orientation allowed" if len(allowed_permutations) > 1 else ""
      fail(f"{column} {length} of {name!r} exceeds the container's {limit} mm{turned}")
    if len(dims) + quantity > item_limit:
      limit_name = ("max_num_items" if max_num_items is not None and max_num_items <= MAX_CSV_ITEMS
                    else "the CSV limit")
      fail(f"{len(dims) + quantity} items so far, more than {limit_name}={item_limit}")
    dims.extend([lengths] * quantity)
    names.extend([name.strip()] * quantity)
    rules.extend([allowed] * quantity)
  if not dims:
    raise UsageError(f"{empty}: no items listed")
  return (np.array(dims, np.int32).reshape(-1, 3), tuple(names),
          np.array(rules, bool).reshape(-1, len(ORIENTATIONS["all"])) if any_rule else None)


def save_instance_to_csv(state: State, path: str) -> None:
  """Writes the items of an instance as a CSV that `CSVGenerator` reads back to the same items.

  One row per distinct item shape (`shape_1`, `shape_2`, ...; lengths in
  millimetres), the most frequent shape first and shapes of equal count in the
  order they first occur; empty item slots are left out. The file is written
  whole or not at all (a temporary file, then a rename).

  Args:
    state: a `State` of one instance (no batch axis).
    path: the CSV file to write.
  """
  lengths = np.stack([np.asarray(state.items.x_len), np.asarray(state.items.y_len),
                      np.asarray(state.items.z_len)], axis=-1)
  real = np.asarray(state.items_mask) & np.all(lengths > 0, axis=-1)
  counts = {}  # shape -> count, in order of first occurrence
  for shape in map(tuple, lengths[real].tolist()):
    counts[shape] = counts.get(shape, 0) + 1
  by_count = sorted(counts.items(), key=lambda shape_and_count: -shape_and_count[1])  # stable
  temporary_path = f"{path}.tmp"
  with open(temporary_path, "w", newline="") as csv_file:
    writer = csv.writer(csv_file, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for number, (shape, count) in enumerate(by_count, start=1):
      writer.writerow((f"shape_{number}", *shape, count))
  os.replace(temporary_path, path)
