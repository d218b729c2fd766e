"""Pictures of a packed container: `render` (one state, PNG) and `animate` (an episode, GIF).

Headless: figures are drawn on matplotlib's Agg canvas, never through pyplot,
so nothing opens a window and no global figure state is kept between calls.
Coordinates are the state's (millimetres); the axes keep the container's true
proportions.
"""
import itertools
from typing import Optional, Sequence

import jax
import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from mpl_toolkits.mplot3d.art3d import Line3DCollection, Poly3DCollection
from PIL import Image

FIGURE_SIZE_INCHES = (6.4, 4.8)
DOTS_PER_INCH = 100
BOX_ALPHA = 0.85
FRAME_DURATION_MS = 400


def _item_colours(num_items):
  """One RGBA colour per item slot: distinct qualitative colours, hues beyond 20 items."""
  if num_items <= 20:
    # tab20 pairs a dark and a light shade of each hue; the generator puts identical
    # items at neighbouring indices, so take all dark shades first, then the light ones.
    return matplotlib.colormaps["tab20"](np.r_[0:20:2, 1:20:2][:num_items])
  return matplotlib.colormaps["hsv"](np.arange(num_items) / num_items)


def _box_faces(corner, lengths):
  """The 6 faces of an axis-aligned box, each as 4 `(x, y, z)` vertices."""
  low = np.asarray(corner, dtype=np.float64)
  high = low + np.asarray(lengths, dtype=np.float64)
  faces = []
  for axis in range(3):
    other_axes = [a for a in range(3) if a != axis]
    for side in (low[axis], high[axis]):
      # Walk the face's rectangle in the plane of the two other axes.
      face = []
      for u, v in ((0, 0), (1, 0), (1, 1), (0, 1)):
        vertex = np.empty(3)
        vertex[axis] = side
        vertex[other_axes[0]] = (low, high)[u][other_axes[0]]
        vertex[other_axes[1]] = (low, high)[v][other_axes[1]]
        face.append(vertex)
      faces.append(face)
  return faces


def _box_edges(lengths):
  """The 12 edges of the box `[0, lengths]`, each as 2 `(x, y, z)` points."""
  corners = [np.array(c) * lengths for c in itertools.product((0, 1), repeat=3)]
  return [(a, b) for a, b in itertools.combinations(corners, 2)
          if np.count_nonzero(a != b) == 1]


def _to_numpy(state):
  """The fields `render` needs, as numpy arrays of one (unbatched) state."""
  container = state.container
  container_lengths = np.array([container.x2 - container.x1, container.y2 - container.y1,
                                container.z2 - container.z1], dtype=np.float64)
  items = np.stack([np.asarray(l) for l in state.items], axis=-1).astype(np.float64)  # [I, 3]
  locations = np.stack([np.asarray(c) for c in state.items_location], axis=-1).astype(np.float64)
  items_placed = np.asarray(state.items_placed, dtype=bool)
  items_mask = np.asarray(state.items_mask, dtype=bool)
  if items_placed.ndim != 1:
    raise ValueError(f"render expects one unbatched state, got items_placed of shape {items_placed.shape}")
  return container_lengths, items, locations, items_placed, items_mask


def _draw(state, title_prefix=""):
  """Draws one state on a fresh Agg figure; returns the `[H, W, 3]` uint8 image."""
  container_lengths, items, locations, items_placed, items_mask = _to_numpy(state)
  utilization = float(np.sum(np.prod(items[items_placed], axis=-1)) / np.prod(container_lengths))

  figure = Figure(figsize=FIGURE_SIZE_INCHES, dpi=DOTS_PER_INCH)
  canvas = FigureCanvasAgg(figure)
  figure.subplots_adjust(left=0.0, right=0.92, bottom=0.02, top=0.98)
  axes = figure.add_subplot(projection="3d")
  axes.add_collection3d(Line3DCollection(_box_edges(container_lengths), colors="0.3", linewidths=1.0))

  # All faces in one collection, so matplotlib depth-sorts faces across boxes.
  colours = _item_colours(len(items))
  faces, face_colours = [], []
  for item_id in np.flatnonzero(items_placed):
    item_faces = _box_faces(locations[item_id], items[item_id])
    faces.extend(item_faces)
    face_colours.extend([colours[item_id]] * len(item_faces))
  if faces:
    boxes = Poly3DCollection(faces, facecolors=face_colours, edgecolors="black", linewidths=0.4)
    boxes.set_alpha(BOX_ALPHA)
    axes.add_collection3d(boxes)

  axes.set_xlim(0, container_lengths[0])
  axes.set_ylim(0, container_lengths[1])
  axes.set_zlim(0, container_lengths[2])
  axes.set_box_aspect(container_lengths, zoom=1.05)
  axes.set_xlabel("x (mm)")
  axes.set_ylabel("y (mm)")
  axes.set_zlabel("z (mm)")
  axes.tick_params(labelsize=7)
  figure.suptitle(f"{title_prefix}utilization {utilization:.1%} | "
                 f"{int(items_placed.sum())}/{int(items_mask.sum())} items placed")

  canvas.draw()
  return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def render(state, path: Optional[str] = None) -> np.ndarray:
  """Draws the packed container of one unbatched `State`.

  Args:
    state: a BinPack `State` (container, items, items_location, items_placed, items_mask).
    path: if given, the image is also written there as a PNG.

  Returns:
    `[H, W, 3]` uint8 RGB image.
  """
  image = _draw(state)
  if path is not None:
    Image.fromarray(image).save(path, format="PNG")
  return image


def _unstack_states(states):
  """A list of unbatched states from a list of them or from one State batched over time."""
  if hasattr(states, "items_placed"):
    items_placed = np.asarray(states.items_placed)
    if items_placed.ndim != 2:
      raise ValueError("animate expects a State batched over time (items_placed [T, I]) "
                       f"or a sequence of States, got items_placed of shape {items_placed.shape}")
    return [jax.tree.map(lambda leaf, t=t: np.asarray(leaf)[t], states)
            for t in range(items_placed.shape[0])]
  return list(states)


def animate(states: Sequence, path: str, frame_duration_ms: int = FRAME_DURATION_MS) -> int:
  """Writes an episode as a GIF, one frame per state.

  Args:
    states: a sequence of unbatched `State`s, or one `State` batched over time `[T, ...]`.
    path: where to write the GIF.
    frame_duration_ms: how long each frame is shown.

  Returns:
    The number of frames written.
  """
  states = _unstack_states(states)
  if not states:
    raise ValueError("animate needs at least one state")
  # The step number in each title keeps frames distinct, so the GIF writer merges none.
  frames = [Image.fromarray(_draw(state, title_prefix=f"step {step}/{len(states) - 1} | "))
            for step, state in enumerate(states)]
  frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:],
                 duration=frame_duration_ms, loop=0)
  return len(frames)
