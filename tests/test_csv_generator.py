"""CSVGenerator: reading an instance from a CSV file, and clear errors on bad files."""
import subprocess
import sys
import unicodedata
from pathlib import Path

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from purepi.env import TWENTY_FOOT_DIMS, CSVGenerator, RandomGenerator, save_instance_to_csv
from purepi.errors import UsageError

HEADER = "Item_Name,Length,Width,Height,Quantity\n"


def write(tmp_path, content):
  """The CSV file with `content` (text is written as UTF-8, bytes as they are)."""
  path = tmp_path / "items.csv"
  path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
  return str(path)


def test_reads_items_and_pads_to_max_num_items(tmp_path):
  path = write(tmp_path, HEADER + "shape_1,1080,760,300,2\n\nshape_2,1100,430,250,1\n")
  state = CSVGenerator(path, max_num_ems=30)(jax.random.PRNGKey(0))
  np.testing.assert_array_equal(np.stack(state.items, -1), [[1080, 760, 300]] * 2 + [[1100, 430, 250]])
  assert state.items_mask.all() and not state.items_placed.any()
  assert (state.container.x2, state.container.y2, state.container.z2) == TWENTY_FOOT_DIMS

  padded = CSVGenerator(path, max_num_ems=30, max_num_items=5)
  state = padded(jax.random.PRNGKey(1))
  assert padded.max_num_items == 5
  np.testing.assert_array_equal(state.items_mask, [True, True, True, False, False])
  np.testing.assert_array_equal(state.items.x_len, [1080, 1080, 1100, 0, 0])


@pytest.mark.parametrize("text, line, problem", [
    ("Item_Name,Length,Width,Quantity\nshape_1,1,1,1\n", 1, "missing Height"),
    ("Item_Name,Width,Length,Height,Quantity\n", 1, "expected the header"),
    ("", 1, "expected the header"),
    (HEADER + "shape_1,1080,760,300\n", 2, "expected 5 fields"),
    (HEADER + "shape_1,1080,760,300,1\nshape_2,11o0,430,250,3\n", 3, "Length of 'shape_2' must be an integer, got '11o0'"),
    (HEADER + "shape_1,1080,0,300,5\n", 2, "Width of 'shape_1' must be positive, got 0"),
    (HEADER + "shape_1,1080,760,-300,5\n", 2, "Height of 'shape_1' must be positive, got -300"),
    (HEADER + "shape_1,1080,760,300,0\n", 2, "Quantity of 'shape_1' must be positive"),
    (HEADER + "shape_1,1080,760,3000,1\n", 2, "Height 3000 of 'shape_1' exceeds the container's 2200 mm"),
    (HEADER + "shape_1,1080,760,300,3\nshape_2,100,100,100,2\n", 3, "5 items so far, more than max_num_items=4"),
    (HEADER, None, "no items listed"),
    (HEADER + "shape_1,1080,760,300,10000000000\n", 2, "10000000000 items so far, more than max_num_items=4"),
    ((HEADER + "shape_1,1080,760,300,1\n").encode() + b"sh\xc3\x28pe,1,1,1,1\n", 3, "not UTF-8 text"),
    (HEADER + "shape_1,10\x0080,760,300,1\n", 2, "Length of 'shape_1' must be an integer, got '10\\x0080'"),
    (HEADER + "shape_1," + "9" * 200_000 + ",760,300,1\n", 2, "not a CSV row (field larger than field limit"),
    (HEADER + "shape_1,1080,760,300,1\n,100,100,100,1\n", 3, "the item name is empty"),
    (HEADER + "  ,100,100,100,1\n", 2, "the item name is empty"),
    (HEADER + "sofa\x07,100,100,100,1\n", 2, "the item name 'sofa\\x07' holds a control character"),
    (HEADER + "shape_1,1080,760,300,1\n" + HEADER, 3, "the header again (were two files joined?)"),
])
def test_malformed_file_raises_naming_file_line_and_problem(tmp_path, text, line, problem):
  path = write(tmp_path, text)
  with pytest.raises(ValueError) as error:
    CSVGenerator(path, max_num_ems=30, max_num_items=4)
  message = str(error.value)
  assert message.startswith(path)
  if line is not None:
    assert f"line {line}:" in message
  assert problem in message


def test_missing_file_is_a_clear_error(tmp_path):
  with pytest.raises(UsageError, match="no such CSV file"):
    CSVGenerator(str(tmp_path / "absent.csv"), max_num_ems=30)


def test_a_byte_order_mark_is_read_like_plain_utf8(tmp_path):
  plain = CSVGenerator(write(tmp_path, HEADER + "shape_1,1080,760,300,2\n"), max_num_ems=30)
  with_bom = CSVGenerator(write(tmp_path, "\ufeff" + HEADER + "shape_1,1080,760,300,2\n"), max_num_ems=30)
  np.testing.assert_array_equal(np.stack(plain(None).items, -1), np.stack(with_bom(None).items, -1))


def test_a_huge_quantity_is_refused_before_anything_is_allocated(tmp_path):
  path = write(tmp_path, HEADER + "shape_1,10,10,10,10000000000\n")
  with pytest.raises(UsageError, match="line 2: 10000000000 items so far, more than the CSV limit=10000"):
    CSVGenerator(path, max_num_ems=30)


FIELD = st.one_of(st.integers(-10, 3000).map(str), st.integers(-10 ** 12, 10 ** 12).map(str),
                  st.text(max_size=6), st.sampled_from(["", " 12", "1e3", "0x10", "３"]))
ROW = st.lists(FIELD, min_size=0, max_size=7).map(",".join)


@st.composite
def csv_files(draw):
  """Random bytes, or a header (right or wrong) and random rows, with or without a byte-order mark;
  names may be empty, blank or hold control characters, and the header may come again."""
  if draw(st.booleans()):
    return draw(st.binary(max_size=300))
  header = draw(st.sampled_from([HEADER.strip(), "Item_Name,Length,Width,Height", "a,b,c,d,e"]))
  rows = draw(st.lists(st.one_of(ROW, st.builds(
      lambda name, dims, quantity: f"{name},{dims[0]},{dims[1]},{dims[2]},{quantity}",
      st.text(alphabet="abc_1 \t\x07", max_size=5), st.tuples(*[st.integers(1, 2500)] * 3),
      st.integers(-2, 30)), st.just(HEADER.strip())), max_size=6))
  text = "\n".join([header] + rows) + draw(st.sampled_from(["", "\n", "\r\n"]))
  return (draw(st.sampled_from(["", "\ufeff"])) + text).encode("utf-8")


@settings(max_examples=200)
@given(content=csv_files())
def test_any_file_gives_an_instance_or_a_usage_error(tmp_path_factory, content):
  path = write(tmp_path_factory.mktemp("fuzz"), content)
  try:
    generator = CSVGenerator(path, max_num_ems=30, max_num_items=20)
  except UsageError as error:
    message = str(error)
    assert message.startswith(path) and "\n" not in message
    return
  assert all(name.strip() and all(unicodedata.category(c) != "Cc" for c in name)
             for name in generator.item_names)
  state = generator(jax.random.PRNGKey(0))
  lengths = np.stack(state.items, -1)[np.asarray(state.items_mask)]
  assert len(lengths) >= 1 and np.all(lengths > 0)
  assert np.all(lengths <= np.array(TWENTY_FOOT_DIMS))


def test_run_py_turns_a_bad_csv_into_one_line_and_exit_2(tmp_path):
  path = write(tmp_path, HEADER.encode() + b"\xff\xfe,1,1,1,1\n")
  result = subprocess.run([sys.executable, "run.py", "--mode=baselines", f"--csv_path={path}",
                           "--eval_num_episodes=2"], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent)
  assert result.returncode == 2
  assert result.stderr.strip() == f"error: {path}, line 2: not UTF-8 text"


def test_save_instance_to_csv_round_trip(tmp_path):
  """A random instance written by save_instance_to_csv reads back to the same items (grouped by
  shape, the most frequent first), and the file is complete: no temporary file is left."""
  state = RandomGenerator(max_num_items=20, max_num_ems=40)(jax.random.PRNGKey(4))
  path = tmp_path / "instance.csv"
  save_instance_to_csv(state, str(path))
  assert [p.name for p in tmp_path.iterdir()] == ["instance.csv"]
  rows = path.read_text().splitlines()
  assert rows[0] == HEADER.strip()
  counts = [int(row.split(",")[-1]) for row in rows[1:]]
  assert counts == sorted(counts, reverse=True)
  read_back = CSVGenerator(str(path), max_num_ems=40)(jax.random.PRNGKey(0))
  lengths = lambda s: sorted(map(tuple, np.stack(s.items, -1)[np.asarray(s.items_mask)].tolist()))
  assert lengths(read_back) == lengths(state)
