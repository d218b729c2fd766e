"""The viewer on hand-built states: image shape, PNG and GIF files, frame counts, bad input."""
import jax
import numpy as np
import pytest
from PIL import Image

from purepi.env import Item, Location, Space, State
from purepi.env import viewer

CONTAINER = (10, 6, 4)
# Three items; the first two fill the bottom half of the container side by side.
ITEMS = np.array([[5, 6, 2], [5, 6, 2], [3, 3, 3]])
LOCATIONS = np.array([[0, 0, 0], [5, 0, 0], [0, 0, 2]])


def _state(num_placed):
  """The container after the first `num_placed` items are placed."""
  num_items = len(ITEMS)
  num_ems = 4
  return State(
      container=Space(x1=0, x2=CONTAINER[0], y1=0, y2=CONTAINER[1], z1=0, z2=CONTAINER[2]),
      ems=Space(**{name: np.zeros(num_ems, np.int32) for name in ("x1", "x2", "y1", "y2", "z1", "z2")}),
      ems_mask=np.zeros(num_ems, bool),
      items=Item(*ITEMS.T.astype(np.int32)),
      items_mask=np.ones(num_items, bool),
      items_placed=np.arange(num_items) < num_placed,
      items_location=Location(*LOCATIONS.T.astype(np.int32)),
      action_mask=np.zeros((num_ems, num_items), bool),
      sorted_ems_indexes=np.arange(num_ems, dtype=np.int32),
      key=np.zeros(2, np.uint32))


def test_render_returns_an_rgb_image_and_writes_a_png(tmp_path):
  path = tmp_path / "packed.png"
  image = viewer.render(_state(num_placed=2), str(path))
  height, width = (round(side * viewer.DOTS_PER_INCH) for side in viewer.FIGURE_SIZE_INCHES[::-1])
  assert image.shape == (height, width, 3) and image.dtype == np.uint8
  # Two placed boxes of distinct colours, on a white background.
  assert len(np.unique(image.reshape(-1, 3), axis=0)) > 50
  with Image.open(path) as png:
    assert png.format == "PNG" and png.size == (width, height)
    np.testing.assert_array_equal(np.asarray(png.convert("RGB")), image)


def test_render_without_path_writes_nothing(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  empty = viewer.render(_state(num_placed=0))
  full = viewer.render(_state(num_placed=3))
  assert empty.shape == full.shape and not np.array_equal(empty, full)
  assert list(tmp_path.iterdir()) == []


def test_box_faces_are_the_six_sides_of_the_box():
  faces = np.array(viewer._box_faces((1, 2, 3), (4, 5, 6)))
  assert faces.shape == (6, 4, 3)
  np.testing.assert_array_equal(faces.min(axis=(0, 1)), [1, 2, 3])
  np.testing.assert_array_equal(faces.max(axis=(0, 1)), [5, 7, 9])
  # Each face lies in one plane: one coordinate constant across its 4 vertices.
  assert all(np.sum(np.ptp(face, axis=0) == 0) == 1 for face in faces)
  assert len(viewer._box_edges(np.array([4.0, 5.0, 6.0]))) == 12


def test_animate_writes_one_frame_per_state_from_a_list_or_a_batch_over_time(tmp_path):
  states = [_state(num_placed) for num_placed in range(4)]
  assert viewer.animate(states, str(tmp_path / "list.gif")) == 4
  batched = jax.tree.map(lambda *leaves: np.stack(leaves), *states)
  assert viewer.animate(batched, str(tmp_path / "batched.gif")) == 4
  for name in ("list.gif", "batched.gif"):
    with Image.open(tmp_path / name) as gif:
      assert gif.format == "GIF" and gif.n_frames == 4


def test_bad_input_is_a_clear_error(tmp_path):
  batched = jax.tree.map(lambda *leaves: np.stack(leaves), _state(1), _state(2))
  with pytest.raises(ValueError, match="one unbatched state"):
    viewer.render(batched)
  with pytest.raises(ValueError, match="at least one state"):
    viewer.animate([], str(tmp_path / "empty.gif"))
