"""Random container loads drawn the way Bischoff and Ratcliff drew their benchmark's.

Bischoff and Ratcliff ("Issues in the development of approaches to container loading", Omega 23(4),
1995) make a load of a 587 x 233 x 220 container from a few to 100 box types: each type's length,
width and height drawn uniformly from [30, 120], [25, 100] and [20, 80] (so length >= width >= height
nearly always; the published files keep them sorted), each side flagged when the box may stand on
it, and boxes of random types added until they fill about the whole container. `RandomLoadGenerator`
draws such loads for any container: the side ranges scale with the container's width (233 in theirs),
so a shorter container gets fewer boxes of the same shapes. The flags follow the shipped classes
BR1, BR4, BR7, BR10 and BR15: the height always, the width too in 81% of types, all three in 46%
(never the length without the width).
"""
from typing import Tuple

import chex
import jax
import jax.numpy as jnp

from purepi.env.generator import Generator, TWENTY_FOOT_DIMS, _solved_state, make_container
from purepi.env.orientations import ORIENTATIONS
from purepi.env.types import Item, Location, State

# Side ranges (length, width, height) in a container 233 wide; each type's sides sorted, longest first.
SIDE_RANGES = ((30, 120), (25, 100), (20, 80))
REFERENCE_WIDTH = 233
# The three flag patterns of the published classes (length, width, height may stand vertical), with
# their frequencies over the box types of BR1, BR4, BR7, BR10 and BR15.
FLAG_PATTERNS = ((0, 0, 1), (0, 1, 1), (1, 1, 1))
FLAG_FREQUENCIES = (0.19, 0.35, 0.46)
# The classes' type counts: BR1-BR7 and BR8-BR15.
BR_NUM_TYPES = (3, 5, 8, 10, 12, 15, 20, 30, 40, 50, 60, 70, 80, 90, 100)


class RandomLoadGenerator(Generator):
  """Loads of `num_types_choices` box types (one drawn uniformly per instance), boxes of uniformly
  drawn types added until their volume reaches a fill drawn uniformly from `fill_range` times the
  container's, or `max_num_items` boxes. Items carry their types' orientation rules
  (`State.items_orientations`); no perfect packing is known.
  """

  def __init__(self, max_num_items: int = 40, max_num_ems: int = 160,
               container_dims: Tuple[int, int, int] = TWENTY_FOOT_DIMS,
               num_types_choices: Tuple[int, ...] = BR_NUM_TYPES, fill_range: Tuple[float, float] = (0.98, 1.0)):
    super().__init__(max_num_items, max_num_ems, container_dims)
    if not num_types_choices or min(num_types_choices) < 1:
      raise ValueError(f"num_types_choices must be positive type counts, got {num_types_choices}")
    self._num_types_choices = tuple(int(count) for count in num_types_choices)
    self._fill_range = tuple(fill_range)

  def __call__(self, key: chex.PRNGKey) -> State:
    key, count_key, sides_key, flags_key, types_key, fill_key = jax.random.split(key, 6)
    max_types = max(self._num_types_choices)
    num_types = jnp.asarray(self._num_types_choices)[
        jax.random.randint(count_key, (), 0, len(self._num_types_choices))]
    scale = self.container_dims[1] / REFERENCE_WIDTH
    lower = jnp.array([low for low, _ in SIDE_RANGES], jnp.float32) * scale
    upper = jnp.array([high for _, high in SIDE_RANGES], jnp.float32) * scale
    sides = jax.random.uniform(sides_key, (max_types, 3), minval=lower, maxval=upper + scale)
    sides = -jnp.sort(-jnp.floor(sides).astype(jnp.int32), axis=-1)  # longest first
    flags = jnp.asarray(FLAG_PATTERNS, bool)[
        jax.random.choice(flags_key, len(FLAG_PATTERNS), (max_types,), p=jnp.asarray(FLAG_FREQUENCIES))]
    box_types = jax.random.randint(types_key, (self.max_num_items,), 0, num_types)
    lengths = sides[box_types]  # [I, 3]
    volumes = jnp.prod(lengths.astype(jnp.float32), axis=-1)
    container_volume = float(self.container_dims[0]) * self.container_dims[1] * self.container_dims[2]
    fill = jax.random.uniform(fill_key, (), minval=self._fill_range[0], maxval=self._fill_range[1])
    items_mask = jnp.cumsum(volumes) - volumes < fill * container_volume
    items = Item(*jnp.where(items_mask[:, None], lengths, 0).T)
    # Orientation (a, b, c) stands listed side c vertical: allowed when that side's flag is set.
    vertical_side = jnp.asarray([permutation[2] for permutation in ORIENTATIONS["all"]])
    items_orientations = flags[box_types][:, vertical_side]
    state = _solved_state(make_container(self.container_dims), self.max_num_ems, items, items_mask,
                          Location(*jnp.zeros((3, self.max_num_items), jnp.int32)), key)
    return self._unpack_items(state).replace(items_orientations=items_orientations)
