"""The data of a BinPack episode: boxes, items, locations, the state and the observation.

Field names and shapes are those of Jumanji's BinPack-v2, so code written for one
environment reads the other's pytrees unchanged.
"""
from typing import NamedTuple, Optional

import chex
import jax.numpy as jnp

from purepi.env.space import Space

Container = Space  # one box, scalar leaves, bottom-left corner at the origin
EMS = Space  # empty maximal space: a box of free room no other free box contains


class Item(NamedTuple):
  """Side lengths of items (int32 millimetres, or floats once normalised)."""
  x_len: chex.Numeric
  y_len: chex.Numeric
  z_len: chex.Numeric


class Location(NamedTuple):
  """Bottom-left corner of placed items."""
  x: chex.Numeric
  y: chex.Numeric
  z: chex.Numeric


def empty_ems() -> EMS:
  return EMS(x1=0, x2=0, y1=0, y2=0, z1=0, z2=0).astype(jnp.int32)


def item_from_space(space: Space) -> Item:
  return Item(x_len=space.x2 - space.x1, y_len=space.y2 - space.y1, z_len=space.z2 - space.z1)


def item_fits_in_item(item: Item, other: Item) -> chex.Array:
  """True when `item` is no longer than `other` along every axis, both as they lie (no turning)."""
  return (item.x_len <= other.x_len) & (item.y_len <= other.y_len) & (item.z_len <= other.z_len)


def item_volume(item: Item) -> chex.Array:
  """Volume as float32, to avoid int32 overflow."""
  return (jnp.asarray(item.x_len, float) * jnp.asarray(item.y_len, float)
          * jnp.asarray(item.z_len, float))


def location_from_space(space: Space) -> Location:
  return Location(x=space.x1, y=space.y1, z=space.z1)


def space_from_item_and_location(item: Item, location: Location) -> Space:
  return Space(x1=location.x, x2=location.x + item.x_len,
               y1=location.y, y2=location.y + item.y_len,
               z1=location.z, z2=location.z + item.z_len)


@chex.dataclass
class State:
  """Everything `BinPack.step` needs; `E = max_num_ems`, `I = max_num_items`, `O = obs_num_ems`.

  container: the bin, `Space` with scalar int32 leaves.
  ems: `EMS` with int32 leaves `[E]`; slots whose `ems_mask` is False hold stale values.
  ems_mask: `[E]` bool, the slots that hold a current EMS.
  items: `Item` with int32 leaves `[I]`: as listed, and as placed (turned) once placed.
  items_mask: `[I]` bool, the items that exist in this instance.
  items_placed: `[I]` bool.
  items_location: `Location` with int32 leaves `[I]`, meaningful where placed.
  action_mask: `[O, I]` bool (`[O, I, R]` with R orientations), as in the observation (None straight
    out of a generator).
  sorted_ems_indexes: `[E]` int32, EMS slots by decreasing volume; the first `O`
    are the ones the observation shows, so observation row `o` is slot
    `sorted_ems_indexes[o]`.
  key: PRNG key carried for the caller (auto-reset); the env itself draws nothing.
  items_orientations: `[I, 6]` bool, the orientations of `ORIENTATIONS["all"]` each item's own rule
    allows (`purepi.env.orientations.orientation_rule`), or None (Jumanji's case, and every
    generator's without rules): any orientation `--rotations` allows. Jumanji's State lacks it.
  lost_ems: int32 scalar, the EMSs this episode has lost for want of a free slot (past the last
    slot an EMS overwrites slot 0, Jumanji's rule): 0 unless `max_num_ems` is too few for the
    instance. `BinPack.reset` starts it at 0 (None straight out of a generator). Jumanji's State lacks it.
  """
  container: Container
  ems: EMS
  ems_mask: chex.Array
  items: Item
  items_mask: chex.Array
  items_placed: chex.Array
  items_location: Location
  action_mask: Optional[chex.Array]
  sorted_ems_indexes: chex.Array
  key: chex.PRNGKey
  items_orientations: Optional[chex.Array] = None
  lost_ems: Optional[chex.Array] = None


class Observation(NamedTuple):
  """What the agent sees.

  ems: `EMS` leaves `[O]`, the `O` largest EMSs (float in [0, 1] when normalised, else int32 mm).
  ems_mask: `[O]` bool.
  items: `Item` leaves `[I]` (float when normalised, else int32 mm).
  items_mask: `[I]` bool.
  items_placed: `[I]` bool.
  action_mask: `[O, I]` bool, True where placing item i in observed EMS o is allowed; `[O, I, R]`
    with rotations, True where placing it there turned to orientation r is.
  """
  ems: EMS
  ems_mask: chex.Array
  items: Item
  items_mask: chex.Array
  items_placed: chex.Array
  action_mask: chex.Array
