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
using two facts about candidates that survive step 2 (they all come from EMSs
that overlap the item, and items have positive sides):
  - A candidate is never inside a candidate of another direction: on its own
    axis, a y-slab (say) lies wholly below item.y1 or above item.y2, while an x-
    or z-slab spans its source EMS's y-range, which overlaps the item's; and an
    x-lower slab ends at or before item.x1 < item.x2, where x-upper slabs begin.
  - So after step 2, a candidate is inside another candidate only if the two are
    equal boxes from the same direction.
Hence, until the free slots run out, candidate j is stored iff it is not inside
an untouched EMS and no earlier such "fresh" candidate equals it; the k-th
stored one takes the k-th free slot. After the free slots run out, only slot 0
changes, and what ends up there has a closed form too (see `update_ems`).
"""
from typing import Tuple

import chex
import jax.numpy as jnp

from purepi.env.space import Space

NUM_DIRECTIONS = 6


def update_ems(ems: Space, ems_mask: chex.Array, item_space: Space) -> Tuple[Space, chex.Array]:
  """The EMS slots after placing the box `item_space`.

  Args:
    ems: `[E]` int32 leaves, the EMS slots.
    ems_mask: `[E]` bool, the slots in use.
    item_space: the placed item, scalar leaves.

  Returns:
    `(ems, ems_mask)` of the same shapes.
  """
  num_slots = ems_mask.shape[0]
  overlapped = ems_mask & item_space.intersect(ems)
  untouched = ems_mask & ~overlapped

  # Steps 1-2, per direction: candidates [6, E] and which survive.
  candidates = ems.slabs_around(item_space)
  candidate_mask = overlapped & ~candidates.is_empty()
  # inside[d, i, j]: candidate (d, i) lies inside candidate (d, j).
  inside = candidates.map(lambda c: c[:, :, None]).is_included(candidates.map(lambda c: c[:, None, :]))
  equal = inside & jnp.swapaxes(inside, 1, 2)
  candidate_mask &= ~jnp.any(inside & ~equal & candidate_mask[:, None, :], axis=-1)

  # Step 3 until the free slots run out.
  in_untouched = (candidates.map(lambda c: c[..., None]).is_included(ems.map(lambda e: e[None, None, :]))
                  & untouched)  # [6, E, E]: candidate (d, i) inside untouched slot k
  fresh = candidate_mask & ~jnp.any(in_untouched, axis=-1)
  earlier = jnp.tril(jnp.ones((num_slots, num_slots), bool), k=-1)  # earlier[i, j]: j < i
  repeats_fresh = jnp.any(equal & earlier & fresh[:, None, :], axis=-1)
  stored = (fresh & ~repeats_fresh).reshape(-1)  # [6E] in offering order
  rank = jnp.cumsum(stored) - stored  # how many were stored before
  num_free = num_slots - jnp.sum(untouched)
  into_free_slot = stored & (rank < num_free)
  free_slots = jnp.argsort(untouched, stable=True)  # free slots first, in slot order
  target_slot = jnp.where(into_free_slot, free_slots[jnp.minimum(rank, num_slots - 1)], num_slots)
  flat_candidates = candidates.map(lambda c: c.reshape(-1))
  new_ems = Space(**{name: ems[name].at[target_slot].set(value, mode="drop")
                     for name, value in flat_candidates.items()})
  new_mask = untouched.at[target_slot].set(True, mode="drop")

  # Step 3 after the free slots run out. Each later candidate is offered against
  # the untouched EMSs outside slot 0, the candidates stored in other free slots,
  # and whatever slot 0 holds at that moment; call "eligible" those that pass the
  # first two tests. Slot 0 starts out holding its untouched EMS, or else the first
  # stored candidate. The first eligible candidate not inside that overwrites it;
  # from then on each eligible candidate either overwrites slot 0 or equals what
  # is there, so slot 0 ends up equal to the last eligible candidate. (When slot 0
  # held a stored candidate, eligible ones inside it are equal to it, so writing
  # the last eligible one is right whether or not any got past it.)
  after_overflow = candidate_mask.reshape(-1) & (rank >= num_free)
  stored_outside_slot0 = (into_free_slot & (target_slot != 0)).reshape(NUM_DIRECTIONS, num_slots)
  repeats_stored = jnp.any(equal & stored_outside_slot0[:, None, :], axis=-1)
  inside_untouched_outside_slot0 = jnp.any(in_untouched[..., 1:], axis=-1)
  eligible = after_overflow & ~(repeats_stored | inside_untouched_outside_slot0).reshape(-1)
  inside_untouched_slot0 = in_untouched[..., 0].reshape(-1)
  overwrites_slot0 = jnp.any(eligible & ~inside_untouched_slot0)
  last_eligible = eligible.shape[0] - 1 - jnp.argmax(eligible[::-1])
  new_ems = Space(**{name: value.at[0].set(jnp.where(overwrites_slot0, flat_candidates[name][last_eligible], value[0]))
                     for name, value in new_ems.items()})
  return new_ems, new_mask

