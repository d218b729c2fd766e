"""The one rollout loop: a batch of BinPack episodes driven by any policy.

Heuristics, greedy evaluation, search distillation and PPO all collect data
through `rollout`; only their `policy_fn` differs. The flat action space of the
network and the search is the `[obs_num_ems, max_num_items]` grid read row by
row; `unflatten_action`, `flatten_action` and `flat_invalid_actions` convert.
"""
from typing import Any, Callable, NamedTuple, Tuple

import jax
import jax.numpy as jnp


class Transition(NamedTuple):
  """One step of a batch of episodes; `rollout` stacks them to `[T, B, ...]`.

  observation: what the policy saw before acting.
  action: `[B, 2]` int32 (ems_id, item_id) that was taken.
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


def unflatten_action(flat_action: jax.Array, max_num_items: int) -> jax.Array:
  """Maps a flat index over the `[obs_num_ems, max_num_items]` grid to (ems_id, item_id)."""
  return jnp.stack([flat_action // max_num_items, flat_action % max_num_items], axis=-1).astype(jnp.int32)


def flatten_action(action: jax.Array, max_num_items: int) -> jax.Array:
  """Maps (ems_id, item_id) `[..., 2]` to the flat index `ems_id * max_num_items + item_id`."""
  return action[..., 0] * max_num_items + action[..., 1]


def flat_invalid_actions(observation) -> jax.Array:
  """`[..., E, I]` action mask -> `[..., E * I]` True where the action is invalid."""
  action_mask = observation.action_mask
  return ~action_mask.reshape(action_mask.shape[:-2] + (-1,))


def rollout(env, policy_fn: PolicyFn, key: jax.Array, state, timestep, num_steps: int):
  """Steps `B` episodes `num_steps` times, freezing each one once it has ended.

  Args:
    env: a BinPack environment (unbatched `step`).
    policy_fn: `(key, state, timestep) -> (action [B, 2], extras)` over the batch.
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
