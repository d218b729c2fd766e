"""CSVGenerator: reading an instance from a CSV file, and clear errors on bad files."""
import jax
import numpy as np
import pytest

from purepi.env import CSVGenerator, TWENTY_FOOT_DIMS

HEADER = "Item_Name,Length,Width,Height,Quantity\n"


def write(tmp_path, text):
  path = tmp_path / "items.csv"
  path.write_text(text)
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
  with pytest.raises(FileNotFoundError, match="no such CSV file"):
    CSVGenerator(str(tmp_path / "absent.csv"), max_num_ems=30)
