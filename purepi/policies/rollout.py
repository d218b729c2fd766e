"""The one rollout loop: a batch of BinPack episodes driven by any policy.

Heuristics, greedy evaluation, search distillation and PPO all collect data
through `rollout`; only their `policy_fn` differs. The flat action space of the
network and the search is the action grid `env.action_grid_shape`
(`[obs_num_ems, max_num_items]`, with an orientation axis last under rotations)
read row by row; `unflatten_action`, `flatten_action` and `flat_invalid_actions`
convert.
"""
from typing import Any, Callable, NamedTuple, Sequence, Tuple

import jax
import jax.numpy as jnp

from purepi.env.orientations import orientation_count


class Transition(NamedTuple):
  """One step of a batch of episodes; `rollout` stacks them to `[T, B, ...]`.

  observation: what the policy saw before acting.
  action: `[B, 2]` int32 (ems_id, item_id) that was taken; `[B, 3]` with the orientation under rotations.
  reward, discount: `[B]` of the step the action caused.
  valid: `[B]` bool, True while the episode was still running when the action
    was taken; steps after the end are padding and must be masked out.
  policy_extras: whatever the policy returned beside the action
    (search `action_weights`, PPO log-probability and value, ...).
  """
  observation: Any
  action: jax.Array
  reward: jax.Array
  discount: jax.Array
  valid: jax.Array
  policy_extras: Any


PolicyFn = Callable[[jax.Array, Any, Any], Tuple[jax.Array, Any]]


def unflatten_action(flat_action: jax.Array, grid_shape: Sequence[int]) -> jax.Array:
  """Maps a flat index over the action grid (`env.action_grid_shape`) to `[..., len(grid_shape)]`
  int32 (ems_id, item_id), or (ems_id, item_id, orientation) with rotations."""
  return jnp.stack(jnp.unravel_index(flat_action, tuple(grid_shape)), axis=-1).astype(jnp.int32)


def flatten_action(action: jax.Array, grid_shape: Sequence[int]) -> jax.Array:
  """Maps `[..., len(grid_shape)]` actions to their row-major flat index over the action grid."""
  flat_action = action[..., 0]
  for axis, size in enumerate(grid_shape[1:], start=1):
    flat_action = flat_action * size + action[..., axis]
  return flat_action


def flat_invalid_actions(observation) -> jax.Array:
  """`[..., E, I(, R)]` action mask -> `[..., E * I (* R)]` True where the action is invalid."""
  action_mask = observation.action_mask
  grid_axes = 3 if orientation_count(observation) else 2
  return ~action_mask.reshape(action_mask.shape[:-grid_axes] + (-1,))


def rollout(env, policy_fn: PolicyFn, key: jax.Array, state, timestep, num_steps: int):
  """Steps `B` episodes `num_steps` times, freezing each one once it has ended.

  Args:
    env: a BinPack environment (unbatched `step`).
    policy_fn: `(key, state, timestep) -> (action [B, A], extras)` over the batch (A = 2, or 3 with rotations).
    key: PRNG key, split once per step.
    state, timestep: the batch's current `[B, ...]` state and time step.
    num_steps: static number of steps; `max_num_items` finishes every episode,
      since each valid step places one item.

  Returns:
    `(state, timestep, transitions)` with the final batch and `[T, B, ...]` transitions.
  """
  batched_step = jax.vmap(env.step)

  def one_step(carry, step_key):
    state, timestep = carry
    running = ~timestep.last()
    action, extras = policy_fn(step_key, state, timestep)
    next_state, next_timestep = batched_step(state, action)
    transition = Transition(
        observation=timestep.observation, action=action, reward=next_timestep.reward,
        discount=next_timestep.discount, valid=running, policy_extras=extras)
    keep_running = lambda new, old: jnp.where(
        running.reshape(running.shape + (1,) * (new.ndim - 1)), new, old)
    state = jax.tree.map(keep_running, next_state, state)
    timestep = jax.tree.map(keep_running, next_timestep, timestep)
    return (state, timestep), transition

  (state, timestep), transitions = jax.lax.scan(
      one_step, (state, timestep), jax.random.split(key, num_steps))
  return state, timestep, transitions
