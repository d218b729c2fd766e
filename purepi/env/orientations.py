"""Orientations: the ways an item may be turned before it is placed.

Items are boxes, so an orientation is a permutation of an item's three lengths:
orientation `(a, b, c)` places the item with its listed length `a` along the
container's x axis, `b` along y and `c` along z (0 = the listed x length, 1 =
y, 2 = z). `--rotations` chooses the set:

  none     1 orientation, as listed (Jumanji's BinPack: items never turn);
  upright  2: as listed, and turned a quarter about the vertical axis (x and y
           lengths swapped, height kept; "this side up" loads);
  all      6: every permutation, any face down.

Orientation 0 is always the listed one. An item with two equal sides has
orientations that give the same box; they stay separate actions.

Each item may also carry its own rule (`orientation_rule`): `none` (as listed
only), `upright` (this side up: as listed or a quarter turn about the vertical),
`any`, or three 0/1 flags saying whether its listed length, width and height
may stand vertical (the Bischoff-Ratcliff instances' flags: "001" is upright,
"111" any). A rule is a mask over the 6 orientations of `all`; the environment
allows an item only the orientations of `--rotations` its rule allows.

An observation says by its shape whether it has orientations: its action mask
is `[..., E, I]` without, `[..., E, I, R]` with (`orientation_count`); the
network, the heuristics and the flat action space read it through the helpers
at the end of this module.
"""
from typing import Tuple

import jax.numpy as jnp

from purepi.env.types import Item

ROTATIONS = ("none", "upright", "all")
ORIENTATIONS = {
    "none": ((0, 1, 2),),
    "upright": ((0, 1, 2), (1, 0, 2)),
    "all": ((0, 1, 2), (1, 0, 2), (0, 2, 1), (2, 0, 1), (1, 2, 0), (2, 1, 0)),
}
# Each orientation written as the listed sides (L, W, H) along x, y, z: "WLH" is turned upright.
ORIENTATION_NAMES = {permutation: "".join("LWH"[axis] for axis in permutation)
                     for permutation in ORIENTATIONS["all"]}


ORIENTATION_RULE_WORDS = ("none", "upright", "any")


def orientation_rule(rule: str) -> Tuple[bool, ...]:
  """The 6 flags, one per orientation of `ORIENTATIONS["all"]`, that a rule allows (see the module
  docstring); ValueError naming the rule when it is none of the words or three 0/1 flags."""
  rule = rule.strip().lower()
  if rule in ORIENTATION_RULE_WORDS:
    allowed = ORIENTATIONS[{"none": "none", "upright": "upright", "any": "all"}[rule]]
    return tuple(permutation in allowed for permutation in ORIENTATIONS["all"])
  if len(rule) != 3 or set(rule) - {"0", "1"} or rule == "000":
    raise ValueError(f"orientation rule {rule!r} is not one of {', '.join(ORIENTATION_RULE_WORDS)} "
                     "or three 0/1 flags (length, width, height may stand vertical), one of them 1")
  # Orientation (a, b, c) puts listed side c vertical.
  return tuple(rule[permutation[2]] == "1" for permutation in ORIENTATIONS["all"])


def rule_columns(rotations: str) -> Tuple[int, ...]:
  """The columns of a rule's 6 flags that are the orientations of `--rotations=rotations`, in order."""
  return tuple(ORIENTATIONS["all"].index(permutation) for permutation in orientations(rotations))


def orientations(rotations: str) -> Tuple[Tuple[int, int, int], ...]:
  """The permutations `--rotations=rotations` allows, listed orientation first."""
  if rotations not in ORIENTATIONS:
    raise ValueError(f"rotations must be one of {', '.join(ROTATIONS)}, got {rotations!r}")
  return ORIENTATIONS[rotations]


def orientations_for_count(num_orientations: int) -> Tuple[Tuple[int, int, int], ...]:
  """The orientation set with this many members (1, 2 or 6): what an action grid's last axis means."""
  for permutations in ORIENTATIONS.values():
    if len(permutations) == num_orientations:
      return permutations
  raise ValueError(f"no rotation setting has {num_orientations} orientations (1, 2 or 6)")


def orient_items(items: Item, permutations) -> Item:
  """Every item in every orientation: `Item` leaves `[..., I]` -> `[..., I, R]`, R = len(permutations)."""
  lengths = (items.x_len, items.y_len, items.z_len)
  return Item(*(jnp.stack([lengths[permutation[axis]] for permutation in permutations], axis=-1)
                for axis in range(3)))


def orientation_count(observation) -> int:
  """0 when the observation's action mask is `[..., E, I]`; R when it is `[..., E, I, R]`."""
  grid_axes = observation.action_mask.ndim - observation.ems_mask.ndim + 1
  return observation.action_mask.shape[-1] if grid_axes == 3 else 0


def placeable_items(observation) -> Item:
  """The observed items' lengths as they could be placed: leaves `[..., I]`, or `[..., I, R]` turned
  every way the action mask has."""
  num_orientations = orientation_count(observation)
  if not num_orientations:
    return observation.items
  return orient_items(observation.items, orientations_for_count(num_orientations))


def fits_any_orientation(observation):
  """`[..., E, I]`: placing item i in EMS e is allowed in some orientation (the action mask itself
  without rotations)."""
  if not orientation_count(observation):
    return observation.action_mask
  return observation.action_mask.any(axis=-1)
