"""Keeping the set of empty maximal spaces (EMSs) up to date after an item is placed.

The rule (Jumanji BinPack-v2's, reproduced exactly):
  1. Every EMS the new item overlaps is removed, and cut into its six slabs
     beyond the item's faces (`Space.slabs_around`); non-empty slabs are candidates.
  2. A candidate strictly inside another candidate is dropped.
  3. The candidates are then offered one at a time, in the order direction
     (x-lower, x-upper, y-lower, y-upper, z-lower, z-upper) then source slot;
     one is stored unless it lies inside an EMS already stored (an untouched
     EMS or an earlier candidate), and it goes to the first free slot, or to
     slot 0 (overwriting it) when no slot is free.

Step 3 is sequential as stated. Here it is computed for all candidates at once,
using facts about candidates (they come from EMSs that overlap the item, and
items have positive sides):
  - A candidate is never inside a candidate of another direction: on its own
    axis, a y-slab (say) lies wholly below item.y1 or above item.y2, while an x-
    or z-slab spans its source EMS's y-range, which overlaps the item's; and an
    x-lower slab ends at or before item.x1 < item.x2, where x-upper slabs begin.
  - So after step 2, a candidate is inside another candidate only if the two are
    equal boxes from the same direction.
  - Within a direction, a slab spans its EMS's interval on the two other axes,
    and on its own axis ends (lower) or starts (upper) at the item's face, so
    comparing slabs means comparing their EMSs' intervals.
Hence, until the free slots run out, candidate j is stored iff it is not inside
an untouched EMS and no earlier candidate equals it; the k-th stored one takes
the k-th free slot. After the free slots run out only slot 0 changes, and what
ends up there has a closed form too (see `update_ems`). The pairwise work is one
[E, E] table per direction (`_compare_slabs`).
"""
from typing import Tuple

import chex
import jax.numpy as jnp

from purepi.env.space import AXES, Space

NUM_DIRECTIONS = 6
LOWER, UPPER = 0, 1


def update_ems(ems: Space, ems_mask: chex.Array, item_space: Space) -> Tuple[Space, chex.Array, chex.Array]:
  """The EMS slots after placing the box `item_space`.

  Args:
    ems: `[E]` int32 leaves, the EMS slots.
    ems_mask: `[E]` bool, the slots in use.
    item_space: the placed item, scalar leaves.

  Returns:
    `(ems, ems_mask)` of the same shapes, and the int32 number of EMSs lost because the free slots
    ran out (0 unless the slots overflowed).
  """
  num_slots = ems_mask.shape[0]
  overlapped = ems_mask & item_space.intersect(ems)
  untouched = ems_mask & ~overlapped
  comparisons = [_compare_slabs(ems, overlapped, untouched, item_space, axis, side)
                 for axis in AXES for side in (LOWER, UPPER)]
  # [6E] vectors in offering order (direction-major).
  is_candidate, first_equal, inside_untouched_slot0 = (jnp.concatenate(values) for values in zip(*comparisons))
  # first_equal < 0: the slab is strictly inside another candidate (dropped by step
  # 2) or inside an untouched EMS outside slot 0; it can never be stored.
  alive = is_candidate & (first_equal >= 0)
  first_equal = jnp.maximum(first_equal, 0) + jnp.repeat(jnp.arange(NUM_DIRECTIONS) * num_slots, num_slots)

  # Step 3 until the free slots run out: each box once (its first copy), unless
  # it lies inside an untouched EMS, into the free slots in slot order.
  stored = alive & ~inside_untouched_slot0 & (first_equal == jnp.arange(first_equal.shape[0]))
  rank = jnp.cumsum(stored) - stored  # how many were stored before
  free = ~untouched
  num_free = jnp.sum(free)
  into_free_slot = stored & (rank < num_free)
  # With enough slots every stored candidate would keep its own; these many would have had none.
  num_lost = jnp.maximum(jnp.sum(stored, dtype=jnp.int32) - num_free, 0)
  free_rank = jnp.cumsum(free) - free
  slot_of_free_rank = jnp.zeros(num_slots, jnp.int32).at[jnp.where(free, free_rank, num_slots)].set(
      jnp.arange(num_slots, dtype=jnp.int32), mode="drop")
  target_slot = jnp.where(into_free_slot, slot_of_free_rank[jnp.minimum(rank, num_slots - 1)], num_slots)

  # Step 3 after the free slots run out. Each later candidate is offered against
  # the untouched EMSs outside slot 0, the candidates stored in other free slots,
  # and whatever slot 0 holds at that moment; call "eligible" those that pass the
  # first two tests. Slot 0 starts out holding its untouched EMS, or else the first
  # stored candidate. The first eligible candidate not inside that overwrites it;
  # from then on each eligible candidate either overwrites slot 0 or equals what
  # is there, so slot 0 ends up equal to the last eligible candidate. (When slot 0
  # held a stored candidate, eligible ones inside it are equal to it, so writing
  # the last eligible one is right whether or not any got past it.)
  repeats_stored = into_free_slot[first_equal] & (target_slot[first_equal] != 0)
  eligible = alive & (rank >= num_free) & ~repeats_stored
  overwrites_slot0 = jnp.any(eligible & ~inside_untouched_slot0)
  last_eligible = eligible.shape[0] - 1 - jnp.argmax(eligible[::-1])

  # Each slot takes the candidate written last into it, if any.
  source = jnp.full(num_slots, -1).at[target_slot].set(jnp.arange(target_slot.shape[0]), mode="drop")
  source = source.at[0].set(jnp.where(overwrites_slot0, last_eligible, source[0]))
  candidates = ems.slabs_around(item_space).map(lambda coord: coord.reshape(-1))
  new_ems = Space(**{name: jnp.where(source >= 0, candidates[name][source], ems[name])
                     for name in candidates.keys()})
  return new_ems, untouched | (source >= 0), num_lost


def _compare_slabs(ems: Space, overlapped, untouched, item_space: Space, axis: str, side: int):
  """Compares the slabs beyond one face of the item with each other and with the EMSs.

  Slab i is the part of EMS i beyond the item's `side` face on `axis`. When EMS i
  overlaps the item, the slab spans `[ems.a1, item.a1]` on that axis (upper side:
  `[item.a2, ems.a2]`) and EMS i's intervals on the other two, so every test
  compares EMS intervals. All pairwise tests go into one `[j, i]` table (slot j
  on axis -2, slab i on the last axis) reduced over j with a min: small integers
  and that layout are what XLA:CPU vectorises best.

  Returns three `[E]` arrays, meaningful where slab i is a candidate:
    is_candidate: EMS i overlaps the item and reaches past the face;
    first_equal: -1 if slab i lies strictly inside another candidate or inside an
      untouched EMS other than slot 0; else the first candidate equal to it
      (i itself when none comes earlier);
    inside_untouched_slot0: slab i lies inside slot 0, an EMS the item does not overlap.
  """
  num_slots = overlapped.shape[0]

  def ends_within(on_axis, lower=True, upper=True):
    """[j, i]: the chosen ends of EMS i's interval on `on_axis` lie within EMS j's."""
    return ((ems.lower(on_axis)[None, :] >= ems.lower(on_axis)[:, None]) if lower else True) & (
        (ems.upper(on_axis)[None, :] <= ems.upper(on_axis)[:, None]) if upper else True)

  def ends_around(on_axis, lower=True, upper=True):
    """[j, i]: the chosen ends of EMS j's interval on `on_axis` lie within EMS i's."""
    return ((ems.lower(on_axis)[None, :] <= ems.lower(on_axis)[:, None]) if lower else True) & (
        (ems.upper(on_axis)[None, :] >= ems.upper(on_axis)[:, None]) if upper else True)

  if side == LOWER:
    is_candidate = overlapped & (ems.lower(axis) < item_space.lower(axis))
    face_inside_ems = item_space.lower(axis) <= ems.upper(axis)
    own_ends = dict(lower=True, upper=False)
  else:
    is_candidate = overlapped & (ems.upper(axis) > item_space.upper(axis))
    face_inside_ems = item_space.upper(axis) >= ems.lower(axis)
    own_ends = dict(lower=False, upper=True)
  first_other, second_other = (other for other in AXES if other != axis)
  inside = ends_within(axis, **own_ends) & ends_within(first_other) & ends_within(second_other)
  contains = ends_around(axis, **own_ends) & ends_around(first_other) & ends_around(second_other)

  index_dtype = jnp.int8 if num_slots < 127 else jnp.int32
  slot = jnp.arange(num_slots, dtype=index_dtype)[:, None]
  dropped = ((is_candidate[:, None] & inside & ~contains)
             | ((slot > 0) & untouched[:, None] & face_inside_ems[:, None] & inside))
  code = jnp.where(dropped, -1, jnp.where(is_candidate[:, None] & inside & contains, slot, num_slots))
  first_equal = jnp.min(code.astype(index_dtype), axis=-2).astype(jnp.int32)
  inside_untouched_slot0 = untouched[0] & face_inside_ems[0] & inside[0]
  return is_candidate, first_equal, inside_untouched_slot0
