"""Instance generators: each turns a PRNG key into the first `State` of an episode.

- `RandomGenerator` cuts the container into random boxes, so every instance can be
  packed perfectly; `generate_solution(key)` returns that perfect packing.
- `RandomBoxGenerator` draws every side of every item independently of the container, so
  instances are not cut from it: no perfect packing is known, and how items are
  turned matters.
- `ToyGenerator` always returns the same 20-item instance of a 20-foot container.
- `ItemListGenerator` always returns the instance of the items listed in Python,
  `CSVGenerator` the one listed in a CSV file.

Longer than 300 lines because it mirrors Jumanji's generator module: every generator in one place.
"""
import abc
from typing import Optional, Tuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

# CSV_COLUMNS and save_instance_to_csv stand here too, where Jumanji's generator module has them.
from purepi.env.csv_generator import CSV_COLUMNS, listed_items, read_items, save_instance_to_csv  # noqa: F401
from purepi.env.orientations import orientations
from purepi.env.space import Space
from purepi.env.types import Container, Item, Location, State, empty_ems

# Inner dimensions of a 20-foot shipping container, in millimetres.
TWENTY_FOOT_DIMS = (5870, 2330, 2200)


def make_container(container_dims: Tuple[int, int, int]) -> Container:
  """The box `[0, length) x [0, width) x [0, height)`, int32 millimetres."""
  length, width, height = container_dims
  return Container(x1=0, x2=length, y1=0, y2=width, z1=0, z2=height).astype(jnp.int32)


def draw_num_items(key: chex.PRNGKey, choices: Tuple[int, ...], max_num_items: int):
  """`(key, n)`: the size n of one instance, uniform over `choices` (item counts) drawn with a key split
  off `key` when training over mixed sizes; without choices `(key, max_num_items)`, `key` untouched."""
  if not choices:
    return key, max_num_items
  key, size_key = jax.random.split(key)
  return key, jnp.asarray(choices, jnp.int32)[jax.random.randint(size_key, (), 0, len(choices))]


def initial_ems(container: Container, max_num_ems: int) -> Space:
  """EMS slots before anything is placed: slot 0 is the whole container, the rest zeros."""
  return jax.tree.map(lambda corner, zero: jnp.full(max_num_ems, zero).at[0].set(corner),
                      container, empty_ems())


class Generator(abc.ABC):
  """Base class: the static sizes every state of its instances shares.

  max_num_items: length of the item arrays (instances may use fewer, see `items_mask`).
  max_num_ems: number of EMS slots the environment keeps.
  container_dims: (length, width, height) of the container in millimetres.
  """

  def __init__(self, max_num_items: int, max_num_ems: int, container_dims: Tuple[int, int, int]):
    self._max_num_items = max_num_items
    self._max_num_ems = max_num_ems
    self._container_dims = tuple(container_dims)

  @property
  def max_num_items(self) -> int:
    return self._max_num_items

  @property
  def max_num_ems(self) -> int:
    return self._max_num_ems

  @property
  def container_dims(self) -> Tuple[int, int, int]:
    return self._container_dims

  @abc.abstractmethod
  def __call__(self, key: chex.PRNGKey) -> State:
    """The first state of an instance: nothing placed, one EMS (the container)."""

  def generate_solution(self, key: chex.PRNGKey) -> State:
    """The instance of `key` with every item placed: a perfect packing of it.

    Only generators that cut instances from a known packing can give one
    (`RandomGenerator`, `ToyGenerator`); others, such as `CSVGenerator`, raise
    NotImplementedError, as Jumanji's do.
    """
    raise NotImplementedError(f"{type(self).__name__} knows no perfect packing of its instances")

  def _unpack_items(self, solution: State) -> State:
    """The first state of the episode whose perfect packing is `solution`."""
    return solution.replace(
        ems_mask=jnp.zeros(self.max_num_ems, bool).at[0].set(True),
        items_placed=jnp.zeros(self.max_num_items, bool),
        items_location=Location(*jnp.zeros((3, self.max_num_items), jnp.int32)))


def _solved_state(container, max_num_ems, items, items_mask, items_location, key) -> State:
  """A state with every existing item placed at `items_location` and no EMS marked valid."""
  return State(
      container=container,
      ems=initial_ems(container, max_num_ems),
      ems_mask=jnp.zeros(max_num_ems, bool),
      items=items,
      items_mask=items_mask,
      items_placed=items_mask,
      items_location=items_location,
      action_mask=None,
      sorted_ems_indexes=jnp.arange(max_num_ems, dtype=jnp.int32),
      key=key)


def _checked_choices(num_items_choices, max_num_items: int) -> Tuple[int, ...]:
  choices = tuple(int(count) for count in num_items_choices)
  if not all(0 < count <= max_num_items for count in choices):
    raise ValueError(f"item counts {choices} must be in 1..max_num_items={max_num_items}")
  return choices


class RandomGenerator(Generator):
  """Random instances made by recursively cutting the container into boxes.

  Starting from one box (the container), each round picks an axis uniformly, then
  a box with probability proportional to its length along that axis, then either
  (probability `prob_split_one_item`) cuts it in two at a uniform point that keeps
  `split_eps` of the length clear of each end, or cuts it into `n` equal parts,
  `n` uniform in `[1, split_num_same_items]`. Rounds stop once at least
  `max_num_items - split_num_same_items + 1` boxes exist (so the next round could
  not overflow the item arrays). Empty boxes are dropped. The boxes are the items.

  With `num_items_choices` (item counts, none above `max_num_items`), each instance
  first draws its count n from them uniformly and the rounds stop at
  `n - split_num_same_items + 1` boxes: instances of mixed sizes, padded to
  `max_num_items`. Without it (Jumanji's generator) n is `max_num_items`.
  """

  def __init__(self, max_num_items: int = 20, max_num_ems: int = 40, split_eps: float = 0.3,
               prob_split_one_item: float = 0.7, split_num_same_items: int = 2,
               container_dims: Tuple[int, int, int] = TWENTY_FOOT_DIMS,
               num_items_choices: Tuple[int, ...] = ()):
    super().__init__(max_num_items, max_num_ems, container_dims)
    self._split_eps = split_eps
    self._prob_split_one_item = prob_split_one_item
    self._split_num_same_items = split_num_same_items
    self._num_items_choices = _checked_choices(num_items_choices, max_num_items)

  def __call__(self, key: chex.PRNGKey) -> State:
    return self._unpack_items(self.generate_solution(key))

  def generate_solution(self, key: chex.PRNGKey) -> State:
    """The perfect packing of the instance `self(key)` generates: every item placed."""
    key, split_key = jax.random.split(key)
    container = make_container(self.container_dims)
    split_key, num_items = draw_num_items(split_key, self._num_items_choices, self.max_num_items)
    lower, upper, items_mask = self._cut_container(split_key, num_items)
    items = Item(*(upper - lower).T)
    items_location = Location(*lower.T)
    return _solved_state(container, self.max_num_ems, items, items_mask, items_location, key)

  def _cut_container(self, key: chex.PRNGKey, num_items):
    """Returns `lower, upper: [max_num_items, 3]` int32 corners of the boxes and their `[max_num_items]` mask:
    about `num_items` boxes (an int, or a traced int32 scalar)."""
    num_slots = self.max_num_items
    lower = jnp.zeros((num_slots, 3), jnp.int32)
    upper = jnp.tile(jnp.array(self.container_dims, jnp.int32), (num_slots, 1))
    mask = jnp.zeros(num_slots, bool).at[0].set(True)

    def needs_more_boxes(carry):
      return jnp.sum(carry[2]) < num_items - self._split_num_same_items + 1

    def cut_one_box(carry):
      lower, upper, mask, key = carry
      key, round_key = jax.random.split(key)
      axis_key, box_key = jax.random.split(round_key)
      axis = jax.random.randint(axis_key, (), 0, 3)
      pick_key, cut_key, mode_key = jax.random.split(box_key, 3)
      lengths = upper[:, axis] - lower[:, axis]
      box_id = jax.random.choice(pick_key, jnp.arange(0, num_slots), (), p=jnp.where(mask, lengths, 0))
      lower, upper, mask = jax.lax.cond(
          jax.random.uniform(mode_key) < self._prob_split_one_item,
          self._cut_in_two, self._cut_in_equal_parts,
          lower, upper, mask, box_id, axis, cut_key)
      mask &= jnp.all(lower < upper, axis=-1)
      return lower, upper, mask, key

    lower, upper, mask, _ = jax.lax.while_loop(needs_more_boxes, cut_one_box, (lower, upper, mask, key))
    return lower, upper, mask

  def _cut_in_two(self, lower, upper, mask, box_id, axis, key):
    start, end = lower[box_id, axis], upper[box_id, axis]
    margin = (self._split_eps * (end - start)).astype(jnp.int32)
    cut = jax.random.randint(key, (), start + margin, end - margin, jnp.int32)
    # The copy goes to the first free slot (slot 0 when none is free, like argmin).
    new_id = jnp.argmin(mask)
    lower, upper = lower.at[new_id].set(lower[box_id]), upper.at[new_id].set(upper[box_id])
    upper = upper.at[box_id, axis].set(cut)
    lower = lower.at[new_id, axis].set(cut)
    return lower, upper, mask.at[new_id].set(True)

  def _cut_in_equal_parts(self, lower, upper, mask, box_id, axis, key):
    start = lower[box_id, axis]
    length = upper[box_id, axis] - start
    num_parts = jax.random.randint(key, (), 1, self._split_num_same_items + 1)
    # Part i spans [start + trunc(i * length / n), start + trunc((i + 1) * length / n)).
    part_bound = lambda i: start + (i * length / num_parts).astype(jnp.int32)
    upper = upper.at[box_id, axis].set(part_bound(1))

    def add_part(i, carry):
      lower, upper, mask = carry
      new_id = jnp.argmin(mask)
      lower, upper = lower.at[new_id].set(lower[box_id]), upper.at[new_id].set(upper[box_id])
      lower = lower.at[new_id, axis].set(part_bound(i))
      upper = upper.at[new_id, axis].set(part_bound(i + 1))
      return lower, upper, mask.at[new_id].set(True)

    return jax.lax.fori_loop(1, num_parts, add_part, (lower, upper, mask))


class RandomBoxGenerator(Generator):
  """Random instances whose items are not cut from the container.

  Every instance has `max_num_items` items; each side of each item is drawn
  uniformly, independently of its axis, between `min_side` and `max_side`
  times the container's shortest side (millimetres, rounded down). The
  defaults give a 20-foot container items of 440 to 1650 mm whose volumes add
  up to about the container's on average, so some items are left out and a
  packer chooses which. With `num_items_choices`, each instance has n items, n
  drawn uniformly from them, padded to `max_num_items` with absent items (zero sides).
  """

  def __init__(self, max_num_items: int = 20, max_num_ems: int = 40, min_side: float = 0.2,
               max_side: float = 0.75, container_dims: Tuple[int, int, int] = TWENTY_FOOT_DIMS,
               num_items_choices: Tuple[int, ...] = ()):
    super().__init__(max_num_items, max_num_ems, container_dims)
    if not 0 < min_side <= max_side <= 1:
      raise ValueError(f"RandomBoxGenerator needs 0 < min_side <= max_side <= 1, got {min_side}, {max_side}")
    self._min_side = min_side
    self._max_side = max_side
    self._num_items_choices = _checked_choices(num_items_choices, max_num_items)

  def __call__(self, key: chex.PRNGKey) -> State:
    key, sides_key = jax.random.split(key)
    sides_key, num_items = draw_num_items(sides_key, self._num_items_choices, self.max_num_items)
    items_mask = jnp.arange(self.max_num_items) < num_items
    shortest = min(self.container_dims)
    sides = jax.random.uniform(sides_key, (3, self.max_num_items), minval=self._min_side * shortest,
                               maxval=self._max_side * shortest)
    items = Item(*jnp.where(items_mask, jnp.maximum(sides.astype(jnp.int32), 1), 0))
    state = _solved_state(make_container(self.container_dims), self.max_num_ems, items,
                          items_mask, Location(*jnp.zeros((3, self.max_num_items), jnp.int32)), key)
    return self._unpack_items(state)


# The toy instance: (x_len, y_len, z_len, x, y, z) of each item of its perfect packing.
_TOY_ITEMS = np.array([
    (2445, 1306, 1022, 0, 0, 0), (3083, 1429, 549, 0, 0, 1022), (1950, 1301, 700, 3083, 0, 1022),
    (3425, 321, 1022, 2445, 0, 0), (3083, 1165, 629, 0, 0, 1571), (2787, 2330, 200, 3083, 0, 1722),
    (3425, 291, 1022, 2445, 910, 0), (2787, 1504, 157, 3083, 0, 2043), (2787, 826, 157, 3083, 1504, 2043),
    (3425, 466, 363, 2445, 1864, 0), (3083, 901, 549, 0, 1429, 1022), (2787, 1029, 700, 3083, 1301, 1022),
    (1295, 1024, 1022, 0, 1306, 0), (2787, 2330, 121, 3083, 0, 1922), (3083, 1165, 629, 0, 1165, 1571),
    (3425, 466, 659, 2445, 1864, 363), (3425, 663, 1022, 2445, 1201, 0), (837, 1301, 700, 5033, 0, 1022),
    (1150, 1024, 1022, 1295, 1306, 0), (3425, 589, 1022, 2445, 321, 0),
], np.int32)


class ToyGenerator(Generator):
  """Always the same 20 items, which fill a 20-foot container exactly; 60 EMS slots."""

  def __init__(self):
    super().__init__(max_num_items=20, max_num_ems=60, container_dims=TWENTY_FOOT_DIMS)

  def __call__(self, key: chex.PRNGKey) -> State:
    return self._unpack_items(self.generate_solution(key))

  def generate_solution(self, key: chex.PRNGKey) -> State:
    del key  # deterministic
    columns = jnp.asarray(_TOY_ITEMS.T)
    return _solved_state(make_container(self.container_dims), self.max_num_ems,
                         items=Item(*columns[:3]), items_mask=jnp.ones(self.max_num_items, bool),
                         items_location=Location(*columns[3:]), key=jax.random.PRNGKey(0))


class ItemListGenerator(Generator):
  """Always the instance of the items listed: `(name, length, width, height, quantity)` rows, in
  millimetres (`purepi.env.csv_generator.listed_items` checks them); `item_names[i]` names item i.

  Args:
    items: the rows.
    max_num_ems: number of EMS slots.
    container_dims: container (length, width, height) in mm; a 20-foot container by default.
    max_num_items: length of the item arrays. None (default) uses exactly the
      number of items listed; a larger value pads with absent items, so a
      network built for that many items can play the instance.
    rotations: the orientations an item may take (`purepi.env.orientations`):
      a row is refused only when no allowed orientation fits the container.
    default_rule: the orientation rule of a row that gives none (`orientation_rule`); empty: any
      orientation `rotations` allows (and no rule in the state unless a row gives one).

  Raises:
    UsageError (a ValueError): a row is malformed; the message names it and the problem.
  """

  def __init__(self, items, max_num_ems: int, container_dims: Tuple[int, int, int] = TWENTY_FOOT_DIMS,
               max_num_items: Optional[int] = None, rotations: str = "none", default_rule: str = ""):
    self._set_items(listed_items(items, container_dims, max_num_items, orientations(rotations), default_rule),
                    max_num_ems, container_dims, max_num_items)

  def _set_items(self, dims_names_and_rules, max_num_ems, container_dims, max_num_items):
    dims, self.item_names, rules = dims_names_and_rules
    super().__init__(max_num_items or len(dims), max_num_ems, container_dims)
    num_items = len(dims)
    items = np.zeros((self.max_num_items, 3), np.int32)
    items[:num_items] = dims
    items_orientations = None
    if rules is not None:
      items_orientations = np.ones((self.max_num_items, rules.shape[1]), bool)
      items_orientations[:num_items] = rules
      items_orientations = jnp.asarray(items_orientations)
    self._instance = State(
        container=make_container(container_dims),
        ems=initial_ems(make_container(container_dims), max_num_ems),
        ems_mask=jnp.zeros(max_num_ems, bool).at[0].set(True),
        items=Item(*jnp.asarray(items.T)),
        items_mask=jnp.arange(self.max_num_items) < num_items,
        items_placed=jnp.zeros(self.max_num_items, bool),
        items_location=Location(*jnp.zeros((3, self.max_num_items), jnp.int32)),
        action_mask=None,
        sorted_ems_indexes=jnp.arange(max_num_ems, dtype=jnp.int32),
        key=jax.random.PRNGKey(0),
        items_orientations=items_orientations)

  def __call__(self, key: chex.PRNGKey) -> State:
    del key  # deterministic
    return self._instance


class CSVGenerator(ItemListGenerator):
  """Always the instance listed in a CSV file (`purepi.env.csv_generator`'s format, e.g. the row
  `shape_1,1080,760,300,5`); `item_names[i]` is the `Item_Name` of item i, in file order.

  Takes `csv_path` (the file) in place of `items`, else as `ItemListGenerator`; a malformed file
  is a UsageError naming the file, the line and the problem.
  """

  def __init__(self, csv_path: str, max_num_ems: int,
               container_dims: Tuple[int, int, int] = TWENTY_FOOT_DIMS,
               max_num_items: Optional[int] = None, rotations: str = "none", default_rule: str = ""):
    self._set_items(read_items(csv_path, container_dims, max_num_items, orientations(rotations), default_rule),
                    max_num_ems, container_dims, max_num_items)
