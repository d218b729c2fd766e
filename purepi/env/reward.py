"""Reward functions. Either way the return of a full episode is the final volume utilisation."""
import abc

import chex
import jax
import jax.numpy as jnp

from purepi.env.types import State, item_volume


class RewardFn(abc.ABC):

  @abc.abstractmethod
  def __call__(self, state: State, action: chex.Array, next_state: State,
               is_valid: chex.Array, is_done: chex.Array) -> chex.Array:
    """Reward of the transition `state --action--> next_state`, float32 scalar."""


def volume_utilization(state: State) -> chex.Array:
  """Placed volume / container volume, in [0, 1]."""
  placed_volume = jnp.sum(item_volume(state.items) * state.items_placed)
  return placed_volume / state.container.volume()


class DenseReward(RewardFn):
  """The volume of the item just placed over the container volume (0 for an invalid action)."""

  def __call__(self, state, action, next_state, is_valid, is_done):
    del next_state, is_done
    item_id = action[1]
    chosen_item = item_volume(jax.tree.map(lambda length: length[item_id], state.items))
    return jnp.where(is_valid, chosen_item / state.container.volume(), 0.0).astype(float)


class SparseReward(RewardFn):
  """The final volume utilisation on the last step, 0 before."""

  def __call__(self, state, action, next_state, is_valid, is_done):
    del state, action, is_valid
    return jnp.where(is_done, volume_utilization(next_state), 0.0).astype(float)
