"""Policies built from the network: with Gumbel MuZero search (or MuZero search, for the
visit-count ablation), and greedy.

The environment is its own model: the search embedding is the batched env
`State`, and the recurrent function steps the real environment and asks the
network for a prior and a value at the new state. Both policies follow the
`PolicyFn` signature of `purepi.policies.rollout`, so they drive the shared
rollout loop for collection and evaluation alike.
"""
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from purepi import search
from purepi.policies.rollout import flat_invalid_actions, unflatten_action


class SearchEmbedding(NamedTuple):
  """What a search node stores: `[B, ...]` env states, and whether each episode had already ended.

  The env keeps no "done" flag of its own, so `terminal` records it: stepping
  past the end of an episode must neither earn reward nor carry value back.
  """
  state: Any
  terminal: jax.Array


def make_recurrent_fn(env, network, discount: float = 1.0):
  """The search's model: one batched env step, then the network at the new state.

  Returns `recurrent_fn(params, rng_key, action [B], embedding) ->
  (RecurrentFnOutput, embedding)`. The reward is the env's (0 once the episode
  has ended); the discount is `discount` times the env's, so 0 at and after
  termination; the value is the network's, 0 at a terminal state. Prior logits
  come out of the network already masked.
  """
  grid_shape = env.action_grid_shape
  batched_step = jax.vmap(env.step)

  def recurrent_fn(params, rng_key, action, embedding):
    del rng_key  # The environment and the network are deterministic.
    next_state, timestep = batched_step(embedding.state, unflatten_action(action, grid_shape))
    prior_logits, value = network.apply(params, timestep.observation)
    was_terminal = embedding.terminal
    is_terminal = was_terminal | timestep.last()
    output = search.RecurrentFnOutput(
        reward=jnp.where(was_terminal, 0.0, timestep.reward),
        discount=jnp.where(is_terminal, 0.0, discount * timestep.discount),
        prior_logits=prior_logits,
        value=jnp.where(is_terminal, 0.0, value))
    return output, SearchEmbedding(next_state, is_terminal)

  return recurrent_fn


def run_search(env, network, params, key, state, timestep, num_simulations: int,
               max_num_considered_actions: int, gumbel_scale: float = 1.0,
               discount: float = 1.0, policy_target: str = "improved",
               value_scale: float = 0.1) -> search.PolicyOutput:
  """One batched search from the env states `state` `[B, ...]`.

  The root's prior and value are the network's at `timestep.observation` (value
  0 where the episode has already ended); invalid root actions come from the
  observation's action mask. `policy_target` picks the search:
    "improved": Gumbel MuZero (`max_num_considered_actions`, `gumbel_scale`);
      `action_weights` = softmax(prior logits + sigma(completed Q)), with
      sigma(q) = (50 + max N) * `value_scale` * q (c_visit = 50 and c_scale =
      `value_scale` in the paper's notation; mctx's default 0.1, the paper's 1).
    "visits": MuZero with PUCT and Dirichlet root noise (mctx's defaults);
      `action_weights` = root visit counts N(a) / sum N, the AlphaZero / Expert
      Iteration target, and the action is sampled from them.
  Returns the search's `PolicyOutput`, tree included.
  """
  prior_logits, value = network.apply(params, timestep.observation)
  terminal = timestep.last()
  root = search.RootFnOutput(
      prior_logits=prior_logits,
      value=jnp.where(terminal, 0.0, value),
      embedding=SearchEmbedding(state, terminal))
  shared = dict(params=params, rng_key=key, root=root,
                recurrent_fn=make_recurrent_fn(env, network, discount),
                num_simulations=num_simulations,
                invalid_actions=flat_invalid_actions(timestep.observation))
  if policy_target == "visits":
    return search.muzero_policy(**shared)
  if policy_target != "improved":
    raise ValueError(f"policy_target={policy_target!r} is neither 'improved' nor 'visits'")
  return search.gumbel_muzero_policy(
      **shared, max_num_considered_actions=max_num_considered_actions, gumbel_scale=gumbel_scale,
      qtransform=functools.partial(search.qtransform_completed_by_mix_value, value_scale=value_scale))


def make_search_policy(env, network, params, num_simulations: int,
                       max_num_considered_actions: int, gumbel_scale: float = 1.0,
                       discount: float = 1.0, policy_target: str = "improved",
                       value_scale: float = 0.1):
  """A batched `PolicyFn` that picks each action by search (`run_search`).

  Returns `policy_fn(key, state, timestep) -> (action [B, A], {"action_weights": [B, num_actions]})`;
  `action_weights` is the search's policy target, the distillation target.
  """
  grid_shape = env.action_grid_shape

  def policy_fn(key, state, timestep):
    output = run_search(env, network, params, key, state, timestep, num_simulations,
                        max_num_considered_actions, gumbel_scale, discount, policy_target, value_scale)
    return unflatten_action(output.action, grid_shape), {"action_weights": output.action_weights}

  return policy_fn


def make_greedy_policy(env, network, params):
  """A batched `PolicyFn` taking the network's most likely valid action; no extras."""
  grid_shape = env.action_grid_shape

  def policy_fn(key, state, timestep):
    del key, state
    logits, _ = network.apply(params, timestep.observation)
    return unflatten_action(jnp.argmax(logits, axis=-1), grid_shape), {}

  return policy_fn
