"""A load plan: one instance packed by a policy, told item by item.

`pack_one` plays one episode through the shared rollout loop and keeps every
state; `load_plan` reads the placements out of it: for each placed item, the
step that placed it, the corner of the item nearest the container's origin
(x along the length, y the width, z the height, in the environment's units:
millimetres), its lengths as placed, how it was turned (`orientation`: its
listed Length, Width and Height in the order they lie along x, y and z, so
"LWH" is as listed and "WLH" a quarter turn about the vertical; only "LWH"
unless the run allows `--rotations`) and its volume. The items never placed
are listed apart.
"""
import dataclasses
import json
from pathlib import Path
from typing import Any, Callable, List, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from purepi.env.orientations import ORIENTATION_NAMES
from purepi.policies.plan_page import write_plan_page
from purepi.policies.rollout import rollout


class Placement(NamedTuple):
  order: int  # 1 for the first item placed
  item: int  # index of the item in the instance
  name: str
  copy: int  # k for the k-th item of that name
  x: int
  y: int
  z: int
  x_len: int
  y_len: int
  z_len: int
  orientation: str  # listed sides along x, y, z: "LWH" as listed
  volume: int
  supported: float  # fraction of its base on the floor or on the tops of items placed before it


@dataclasses.dataclass(frozen=True)
class LoadPlan:
  placements: List[Placement]
  unplaced: List[Placement]  # order 0, location -1: what did not fit
  utilization: float
  container: tuple  # (x_len, y_len, z_len)
  policy: str  # what packed it, in words
  # The episode's states, numpy `[T + 1, ...]` leaves, for pictures; two plans are equal when their
  # placements are.
  states: Any = dataclasses.field(compare=False, repr=False)
  # The anytime packer's record (`purepi.anytime`): seconds spent, and each plan it tried with the
  # utilization it reached and its seconds.
  seconds: float = dataclasses.field(default=0.0, compare=False)
  tried: tuple = dataclasses.field(default=(), compare=False)

  @property
  def final_state(self):
    """The state after the last placement (`purepi.env.viewer.render` draws it)."""
    return jax.tree.map(lambda leaf: leaf[-1], self.states)

  @property
  def steps(self):
    """The states from the empty container to the last placement, one per frame of an animation."""
    return jax.tree.map(lambda leaf: leaf[:len(self.placements) + 1], self.states)

  @classmethod
  def from_json(cls, path) -> "LoadPlan":
    """The plan a `plan.json` of `--mode=pack` holds (without the episode's states)."""
    written = json.loads(Path(path).read_text(encoding="utf-8"))
    placements = [Placement(**row) for row in written["placed"]]
    unplaced = [Placement(0, row["item"], row["name"], row["copy"], -1, -1, -1, row["x_len"], row["y_len"],
                          row["z_len"], "LWH", row["volume"], 0.0) for row in written["did_not_fit"]]
    return cls(placements, unplaced, written["utilization"], tuple(written["container_mm"]),
               written["policy"], states=None, seconds=written.get("seconds", 0.0),
               tried=tuple(written.get("tried", ())))

  def to_html(self, path) -> Path:
    """Writes the plan's interactive 3D page to `path` (`purepi.policies.plan_page`); returns it."""
    return write_plan_page(self, path)


def episode_player(env, policy_fn, on_step: Optional[Callable[[int], None]] = None):
  """A compiled `play(instance_key, policy_key, *policy_args) -> (states, actions, valid)`: one
  episode of `policy_fn(key, state, timestep, *policy_args)` from `env.reset(instance_key)`.

  It returns, as numpy, the `T + 1` unbatched states from the reset to the end (`[T + 1, ...]`
  leaves), the `[T, A]` actions and the `[T]` flags of the steps taken while the episode ran.
  `on_step(k)`, if given, is called on the host before each step with the number of items placed
  so far. Calls with new keys or arguments of the same shapes reuse the compiled program.
  """
  @jax.jit
  def play(instance_key, policy_key, *policy_args):
    state, timestep = jax.vmap(env.reset)(instance_key[None])

    def recording(key, state, timestep):
      if on_step is not None:
        jax.debug.callback(on_step, jnp.sum(state.items_placed), ordered=True)
      action, extras = policy_fn(key, state, timestep, *policy_args)
      return action, dict(extras, state=state)

    final_state, _, transitions = rollout(env, recording, policy_key, state, timestep,
                                          env.generator.max_num_items)
    states = jax.tree.map(lambda before, last: jnp.concatenate([before[:, 0], last]),
                          transitions.policy_extras["state"], final_state)
    return states, transitions.action[:, 0], transitions.valid[:, 0]

  return lambda *arguments: jax.device_get(play(*arguments))


def pack_one(env, policy_fn, instance_key, policy_key, on_step: Optional[Callable[[int], None]] = None):
  """One episode of the batched `policy_fn(key, state, timestep)` from `env.reset(instance_key)`:
  `episode_player`'s `(states, actions, valid)`."""
  return episode_player(env, policy_fn, on_step)(instance_key, policy_key)


def load_plan(states, actions, valid, names: Sequence[str], policy: str) -> LoadPlan:
  """The placements of one packed episode (`pack_one`'s output); `names[i]` names item i, `policy`
  says what packed it."""
  final = jax.tree.map(lambda leaf: leaf[-1], states)
  items_mask = np.asarray(final.items_mask)
  placed = np.asarray(final.items_placed)
  as_lengths = lambda items: np.stack([np.asarray(items.x_len), np.asarray(items.y_len),
                                      np.asarray(items.z_len)], -1).astype(np.int64)
  lengths = as_lengths(final.items)  # as placed
  listed = as_lengths(jax.tree.map(lambda leaf: leaf[0], states).items)
  corners = np.stack([np.asarray(final.items_location.x), np.asarray(final.items_location.y),
                      np.asarray(final.items_location.z)], -1).astype(np.int64)
  copies, seen = [], {}
  for item in range(len(items_mask)):
    name = names[item] if item < len(names) else f"item {item}"
    seen[name] = seen.get(name, 0) + 1
    copies.append((name, seen[name]))

  placement_order = [int(action[1]) for action, taken in zip(actions, valid)
                     if taken and placed[int(action[1])]]
  supported = supported_fractions(corners[placement_order], lengths[placement_order])

  def row(order, item, placed_here):
    corner = corners[item] if placed_here else np.full(3, -1)
    return Placement(order, item, copies[item][0], copies[item][1], *map(int, corner),
                     *map(int, lengths[item]), orientation_name(listed[item], lengths[item]),
                     int(np.prod(lengths[item])), float(supported[order - 1]) if placed_here else 0.0)

  placements = [row(order, item, True) for order, item in enumerate(placement_order, start=1)]
  unplaced = [row(0, item, False) for item in range(len(items_mask)) if items_mask[item] and not placed[item]]
  container = tuple(int(getattr(final.container, name)) for name in ("x2", "y2", "z2"))
  volume = sum(placement.volume for placement in placements)
  return LoadPlan(placements, unplaced, volume / float(np.prod(container)), container, policy, states)


def supported_fractions(corners, lengths) -> np.ndarray:
  """`[N]` for boxes placed in this order (`[N, 3]` corners and lengths, z vertical): the fraction of
  each one's base on the floor (z = 0) or on the tops of the boxes placed before it, which end at
  its height. Boxes never overlap, so neither do the tops under one base: the areas add up."""
  corners, lengths = np.asarray(corners, np.int64).reshape(-1, 3), np.asarray(lengths, np.int64).reshape(-1, 3)
  lower, upper = corners, corners + lengths
  fractions = np.ones(len(corners))
  for index in range(len(corners)):
    if corners[index, 2] == 0:
      continue
    below = np.flatnonzero(upper[:index, 2] == corners[index, 2])
    overlap = [np.clip(np.minimum(upper[below, axis], upper[index, axis])
                       - np.maximum(lower[below, axis], lower[index, axis]), 0, None) for axis in (0, 1)]
    fractions[index] = float(np.sum(overlap[0] * overlap[1])) / float(lengths[index, 0] * lengths[index, 1])
  return fractions


def orientation_name(listed, as_placed) -> str:
  """How an item lies: the first orientation ("LWH", "WLH", ...) that turns its listed lengths into
  `as_placed` (with equal sides several do; the first is as good a description as any)."""
  for permutation, name in ORIENTATION_NAMES.items():
    if all(listed[axis] == length for axis, length in zip(permutation, as_placed)):
      return name
  raise ValueError(f"lengths {tuple(as_placed)} are no orientation of the listed item {tuple(listed)}")
