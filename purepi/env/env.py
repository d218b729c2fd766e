"""BinPack: pack items into one container, choosing at each step an item and an EMS.

Same public API and dynamics as Jumanji's BinPack-v2 (`reset`, `step`, specs,
extras), written for speed when vmapped over a batch: `step` has no sequential
loop (see `purepi.env.ems`).

Observation: the `obs_num_ems` largest EMSs, all items, and the action mask.
Action: int32 `(ems_id, item_id)`, `ems_id` indexing the observed EMSs; the item
goes to the bottom-left corner (x1, y1, z1) of that EMS. With rotations
(`rotations="upright"` or `"all"`, see `purepi.env.orientations`) the action is
`(ems_id, item_id, orientation)`, the action mask has an orientation axis last,
and a placed item's lengths are its lengths as placed. Items with their own
orientation rules (`State.items_orientations`) take only the orientations both allow.
An episode ends when no action is valid, or at once after an invalid action (which changes nothing
and sets `extras["invalid_action"]`).
"""
from functools import cached_property
from typing import Dict, Optional, Sequence, Tuple

import chex
import jax
import jax.numpy as jnp

from purepi.env import specs
from purepi.env.ems import update_ems
from purepi.env.generator import Generator, RandomGenerator
from purepi.env.orientations import orient_items, orientations, rule_columns
from purepi.env.reward import DenseReward, RewardFn, volume_utilization
from purepi.env.space import Space
from purepi.env.timestep import TimeStep, restart, transition_or_termination
from purepi.env.types import (
    EMS, Item, Location, Observation, State, item_fits_in_item, item_from_space,
    space_from_item_and_location)

_EMS_COORDS = ("x1", "x2", "y1", "y2", "z1", "z2")
COUNTING_SORT_MAX_SLOTS = 64  # XLA:CPU, us a state: 1.4 vs a sort's 2.2 at 40 slots, 6.2 vs 4.9 at 80
_ITEM_AXES = ("x_len", "y_len", "z_len")


class BinPack:
  """3D bin packing of one container, in the empty-maximal-space (EMS) formulation.

  Args:
    generator: makes instances; default `RandomGenerator(max_num_items=20,
      max_num_ems=40, split_num_same_items=2)`.
    obs_num_ems: how many EMSs (the largest by volume) the observation shows.
    reward_fn: `DenseReward()` (default) or `SparseReward()`.
    normalize_dimensions: observe lengths divided by the container's (floats in
      [0, 1]) instead of int32 millimetres.
    debug: also report `extras["invalid_ems_from_env"]`: True when some EMS
      overlaps a placed item or leaves the container, which the dynamics should
      never produce (a self-check that costs an [EMS, item] overlap test per step).
    min_support: an item may be placed only where at least this fraction of its
      base rests on the container's floor or on the tops of placed items (a
      stable stack); 0 (the default) allows any placement, as Jumanji does.
    rotations: "none" (the default: items are placed as listed, as Jumanji
      does), "upright" (also turned about the vertical axis) or "all" (any of
      the 6 permutations of their lengths); see `purepi.env.orientations`.
  """

  def __init__(self, generator: Optional[Generator] = None, obs_num_ems: int = 40,
               reward_fn: Optional[RewardFn] = None, normalize_dimensions: bool = True,
               debug: bool = False, min_support: float = 0.0, rotations: str = "none"):
    if not 0.0 <= min_support <= 1.0:
      raise ValueError(f"min_support must be in [0, 1], got {min_support}")
    self.orientations = orientations(rotations)
    self._rule_columns = rule_columns(rotations)
    self.rotations = rotations
    self.generator = generator or RandomGenerator(max_num_items=20, max_num_ems=40, split_num_same_items=2)
    self.obs_num_ems = obs_num_ems
    self.reward_fn = reward_fn or DenseReward()
    self.normalize_dimensions = normalize_dimensions
    self.debug = debug
    self.min_support = min_support

  def __repr__(self):
    return (f"BinPack(generator={type(self.generator).__name__}, max_num_items={self.generator.max_num_items}, "
            f"max_num_ems={self.generator.max_num_ems}, obs_num_ems={self.obs_num_ems}, "
            f"reward_fn={type(self.reward_fn).__name__}, normalize_dimensions={self.normalize_dimensions}, "
            f"debug={self.debug}" + (f", min_support={self.min_support}" if self.min_support else "")
            + (f", rotations={self.rotations!r}" if self.rotations != "none" else "") + ")")

  @property
  def action_grid_shape(self) -> Tuple[int, ...]:
    """Shape of the action mask: `(obs_num_ems, max_num_items)`, and the orientations last with rotations.
    The network's and the search's flat actions index this grid row-major
    (`purepi.policies.rollout.flatten_action`).
    """
    grid = (self.obs_num_ems, self.generator.max_num_items)
    return grid if self.rotations == "none" else grid + (len(self.orientations),)

  @cached_property
  def observation_spec(self) -> specs.Spec:
    """Shapes, dtypes and bounds of every `Observation` field."""
    num_ems, num_items = self.obs_num_ems, self.generator.max_num_items
    if self.normalize_dimensions:
      length = lambda shape, name: specs.BoundedArray(shape, float, 0.0, 1.0, name)
    else:
      max_dim = max(self.generator.container_dims)
      length = lambda shape, name: specs.BoundedArray(shape, jnp.int32, 0, max_dim, name)
    flag = lambda shape, name: specs.BoundedArray(shape, bool, False, True, name)
    return specs.Spec(
        Observation, "ObservationSpec",
        ems=specs.Spec(EMS, "EMSSpec", **{c: length((num_ems,), c) for c in _EMS_COORDS}),
        ems_mask=flag((num_ems,), "ems_mask"),
        items=specs.Spec(Item, "ItemsSpec", **{a: length((num_items,), a) for a in _ITEM_AXES}),
        items_mask=flag((num_items,), "items_mask"),
        items_placed=flag((num_items,), "items_placed"),
        action_mask=flag(self.action_grid_shape, "action_mask"))

  @cached_property
  def action_spec(self) -> specs.MultiDiscreteArray:
    """`(ems_id, item_id)`: ems_id in [0, obs_num_ems), item_id in [0, max_num_items); with rotations
    also `orientation` in [0, number of orientations)."""
    return specs.MultiDiscreteArray(list(self.action_grid_shape), jnp.int32, "action")

  @cached_property
  def reward_spec(self) -> specs.Array:
    """One float per step; an episode's rewards sum to its volume utilization."""
    return specs.Array((), float, "reward")

  @cached_property
  def discount_spec(self) -> specs.BoundedArray:
    """One float in [0, 1] per step: 1 while the episode goes on, 0 at its last step."""
    return specs.BoundedArray((), float, 0.0, 1.0, "discount")

  def reset(self, key: chex.PRNGKey) -> Tuple[State, TimeStep]:
    """A new instance from the generator, and its FIRST time step."""
    state, observation, extras = self._observe(self.generator(key).replace(lost_ems=jnp.zeros((), jnp.int32)))
    extras["invalid_action"] = jnp.array(False)
    if self.debug:
      extras["invalid_ems_from_env"] = jnp.array(False)
    return state, restart(observation, extras)

  def step(self, state: State, action: chex.Array) -> Tuple[State, TimeStep]:
    """Places item `action[1]` (turned to orientation `action[2]` with rotations) at the corner of
    observed EMS `action[0]`, if allowed. Returns the next state and a MID time step, or a LAST one
    (discount 0) when no action is valid any more or this one was invalid."""
    observed_ems_id, item_id = action[0], action[1]
    orientation = action[2] if self.rotations != "none" else 0
    is_valid = state.action_mask[tuple(action[axis] for axis in range(len(self.action_grid_shape)))]
    ems_id = state.sorted_ems_indexes[observed_ems_id]
    as_placed = Item(*(length[item_id, orientation]
                       for length in orient_items(state.items, self.orientations)))
    placed = _place_item(state, ems_id, item_id, as_placed)
    next_state = jax.tree.map(lambda new, old: jnp.where(is_valid, new, old), placed, state)
    next_state, observation, extras = self._observe(next_state)
    done = ~jnp.any(next_state.action_mask) | ~is_valid
    reward = self.reward_fn(state, action, next_state, is_valid, done)
    extras["invalid_action"] = ~is_valid
    if self.debug:
      extras["invalid_ems_from_env"] = ~_ems_are_all_valid(next_state)
    return next_state, transition_or_termination(done, reward, observation, extras)

  def render(self, state: State, path: Optional[str] = None):
    """Draws the packed container (see `purepi.env.viewer.render`)."""
    from purepi.env import viewer
    return viewer.render(state, path)

  def animate(self, states: Sequence[State], path: str):
    """Writes a GIF of consecutive states (see `purepi.env.viewer.animate`)."""
    from purepi.env import viewer
    return viewer.animate(states, path)

  @property
  def unwrapped(self) -> "BinPack":
    """The environment itself; wrappers written for Jumanji call this."""
    return self

  def close(self) -> None:
    """Releases nothing; kept so that Jumanji code runs unchanged."""

  def __enter__(self) -> "BinPack":
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()

  def _observe(self, state: State) -> Tuple[State, Observation, Dict[str, chex.Array]]:
    """Fills the state's `sorted_ems_indexes` and `action_mask`; builds the observation and extras."""
    sorted_ems_indexes = _ems_by_decreasing_volume(state.ems, state.ems_mask)
    shown = sorted_ems_indexes[:self.obs_num_ems]
    obs_ems = state.ems.map(lambda coord: coord[shown])
    obs_ems_mask = state.ems_mask[shown]
    placeable = self._placeable_items(state.items)
    action_mask = _action_mask(obs_ems, obs_ems_mask, placeable, state.items_mask & ~state.items_placed)
    if state.items_orientations is not None:
      action_mask &= self._allowed_by_rules(state.items_orientations)[None]
    if self.min_support > 0:
      action_mask &= is_supported(state, obs_ems, placeable, self.min_support)
    state = state.replace(sorted_ems_indexes=sorted_ems_indexes, action_mask=action_mask)
    items = state.items
    if self.normalize_dimensions:
      obs_ems, items = _normalize(state.container, obs_ems, items)
    observation = Observation(ems=obs_ems, ems_mask=obs_ems_mask, items=items, items_mask=state.items_mask,
                              items_placed=state.items_placed, action_mask=action_mask)
    num_placed = jnp.sum(state.items_placed)
    extras = {
        "volume_utilization": volume_utilization(state),
        "packed_items": num_placed,
        "ratio_packed_items": num_placed / jnp.sum(state.items_mask),
        "active_ems": jnp.sum(state.ems_mask),
    }
    return state, observation, extras

  def _allowed_by_rules(self, items_orientations: chex.Array) -> chex.Array:
    """Each item's own rule at the orientations of `--rotations`: `[I, R]`, or `[I]` without rotations."""
    allowed = items_orientations[:, jnp.asarray(self._rule_columns)]
    return allowed[:, 0] if self.rotations == "none" else allowed

  def _placeable_items(self, items: Item) -> Item:
    """The items' lengths in every orientation allowed: leaves `[I]` without rotations, else `[I, R]`."""
    return items if self.rotations == "none" else orient_items(items, self.orientations)


def _ems_are_all_valid(state: State) -> chex.Array:
  """True when no active EMS overlaps a placed item and every active EMS lies in the container."""
  placed_items = space_from_item_and_location(state.items, state.items_location)
  ems = state.ems.map(lambda coord: coord[:, None])
  overlaps = ems.intersect(placed_items.map(lambda coord: coord[None, :]))
  overlaps &= state.ems_mask[:, None] & state.items_placed[None, :]
  outside = state.ems_mask & ~state.ems.is_included(state.container)
  return ~jnp.any(overlaps) & ~jnp.any(outside)


def _ems_by_decreasing_volume(ems: EMS, ems_mask: chex.Array) -> chex.Array:
  """`[E]` slot indexes, largest volume first, unused slots last, ties in slot order: a stable sort
  of `-(volume * ems_mask)` (volumes are never negative: -0.0 never sorts before 0.0). Up to
  `COUNTING_SORT_MAX_SLOTS` it counts how many slots sort before each (faster, but quadratic)."""
  key = -(ems.volume() * ems_mask)
  slot = jnp.arange(key.shape[0], dtype=jnp.int32)
  if key.shape[0] > COUNTING_SORT_MAX_SLOTS:
    return jnp.argsort(key, stable=True).astype(jnp.int32)
  sorts_before = (key[:, None] < key[None, :]) | ((key[:, None] == key[None, :]) & (slot[:, None] < slot[None, :]))
  position = jnp.sum(sorts_before, axis=0, dtype=jnp.int32)  # [k]: how many slots j sort before slot k
  return jnp.zeros_like(slot).at[position].set(slot)


def _action_mask(obs_ems: EMS, obs_ems_mask, items: Item, items_available) -> chex.Array:
  """`[O, I, ...]`: item i exists, is not placed yet, and fits in observed EMS o.

  `items` leaves are `[I]` (items as listed) or `[I, R]` (in each of R
  orientations); the mask has the same trailing axes.
  """
  item_axes = items.x_len.ndim
  per_ems = lambda coord: coord.reshape(coord.shape + (1,) * item_axes)
  ems_room = item_from_space(obs_ems.map(per_ems))
  fits = item_fits_in_item(Item(*(length[None] for length in items)), ems_room)
  available = items_available.reshape(items_available.shape + (1,) * (item_axes - 1))
  return fits & per_ems(obs_ems_mask) & available[None]


def is_supported(state: State, ems: EMS, items: Item, min_support: float) -> chex.Array:
  """`[E, I, ...]`: at EMS e's corner, at least `min_support` of item i's base would rest on something.

  `items` are the lengths to test, leaves `[I]` or `[I, R]` (every orientation); the placed items are
  the state's. The base `[x1, x1 + x_len] x [y1, y1 + y_len]` at height `z1` is fully supported on the
  floor; above, it rests on the tops of the placed items ending exactly at `z1`, which never overlap,
  so the supported area is the sum of the overlaps. Areas are whole mm^2 below 2^24 for floors up to
  16.7 m^2, exact in float32; the test is `supported area >= min_support * base area`, without a
  division (which XLA may compute through an inexact reciprocal).
  """
  placed = space_from_item_and_location(state.items, state.items_location)
  item_axes = items.x_len.ndim
  per_ems = lambda coord: coord.reshape(coord.shape + (1,) * item_axes)  # [E] -> [E, 1, ...]

  def overlap(lower, length, placed_lower, placed_upper):  # -> [E, I, ..., P]
    lower = per_ems(lower)[..., None]
    upper = (lower[..., 0] + length[None])[..., None]
    return jnp.maximum(jnp.minimum(upper, placed_upper) - jnp.maximum(lower, placed_lower), 0)

  overlap_x = overlap(ems.x1, items.x_len, placed.x1, placed.x2).astype(jnp.float32)
  overlap_y = overlap(ems.y1, items.y_len, placed.y1, placed.y2).astype(jnp.float32)
  resting_on = state.items_placed & (placed.z2 == per_ems(ems.z1)[..., None])
  supported_area = jnp.sum(jnp.where(resting_on, overlap_x * overlap_y, 0.0), axis=-1)
  base_area = (items.x_len * items.y_len).astype(jnp.float32)[None]
  on_floor = per_ems(ems.z1 == state.container.z1)
  return on_floor | (supported_area >= min_support * base_area)


def _normalize(container: Space, obs_ems: EMS, items: Item) -> Tuple[EMS, Item]:
  """Divides every length by the container's length along the same axis."""
  container_lengths = item_from_space(container)
  per_coord = dict(zip(_EMS_COORDS, (container_lengths.x_len, container_lengths.x_len,
                                     container_lengths.y_len, container_lengths.y_len,
                                     container_lengths.z_len, container_lengths.z_len)))
  obs_ems = EMS(**{name: value / per_coord[name] for name, value in obs_ems.items()})
  items = Item(*(length / container_length for length, container_length in zip(items, container_lengths)))
  return obs_ems, items


def _place_item(state: State, ems_id: chex.Numeric, item_id: chex.Numeric, as_placed: Item) -> State:
  """Puts item `item_id`, lengths `as_placed` (scalars), at the bottom-left corner of EMS slot
  `ems_id` (assumed allowed); the item's lengths in the state become those as placed."""
  corner = Location(state.ems.x1[ems_id], state.ems.y1[ems_id], state.ems.z1[ems_id])
  items_location = Location(*(where.at[item_id].set(value) for where, value in zip(state.items_location, corner)))
  items = Item(*(lengths.at[item_id].set(length) for lengths, length in zip(state.items, as_placed)))
  ems, ems_mask, num_lost = update_ems(state.ems, state.ems_mask, space_from_item_and_location(as_placed, corner))
  return state.replace(items=items, items_location=items_location, ems=ems, ems_mask=ems_mask,
                       items_placed=state.items_placed.at[item_id].set(True), lost_ems=state.lost_ems + num_lost)
