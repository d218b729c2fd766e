"""Policy iteration via search distillation: the trainer (`--mode=distill`).

One iteration, on every device at once (`jax.pmap`, gradients averaged with
`lax.pmean`):

  1. Improve (`collect`): play `rollout_batch_size` episodes, choosing every
     action by Gumbel MuZero search over the real environment with the current
     network as prior and value. The search's `action_weights`,
     softmax(prior logits + completed Q), is the improved policy.
  2. Evaluate (`monte_carlo_returns`): the value target of each step is the
     return actually obtained from it, not a search value.
  3. Distill (`update`): shuffle the steps (this iteration's, or with
     `replay_iterations` K > 1 those of the last K iterations, kept on the
     devices by `purepi.training.replay`), then take `num_epochs` times one
     iteration's worth of minibatches of `training_batch_size`, each a step of
       cross-entropy(network logits, action_weights)
       + value_loss_weight * (network value - return)^2
     over its valid steps, with Adam and global-norm clipping.

With `greedy_rollout_fraction` f > 0, the first f of each device's episodes
act by the network's greedy action instead of the search's, while the search
still labels every state they reach (DAgger): the network is then also taught
on the states its own greedy policy visits, where it is evaluated.

`--policy_target=visits` swaps step 1's search for MuZero's (PUCT, Dirichlet
root noise) and its target for the root visit counts, the AlphaZero / Expert
Iteration target, for the ablation the blog discusses.

The network gets better, so the search built on it gets stronger, so the next
targets are better. `make_algorithm` returns these steps as an `Algorithm`;
the loop that runs them, with the workdir, checkpoints, evaluation and the
progress bar, is `purepi.training.loop.run_experiment`, shared with PPO.
"""
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from purepi.devices import AXIS_NAME
from purepi.policies.rollout import rollout
from purepi.policies.search_policy import make_greedy_policy, make_search_policy
from purepi.training import replay
from purepi.training.algorithm import (Algorithm, TrainState, apply_gradients, batch_layout,
                                       init_train_state, make_optimizer, train_on_batch)


class DistillationBatch(NamedTuple):
  """One device's collected steps, `[T, B, ...]`."""
  observation: Any
  action_weights: jax.Array  # [T, B, E * I] search policy, the policy target
  returns: jax.Array  # [T, B] Monte-Carlo return from each step, the value target
  valid: jax.Array  # [T, B] False on padding steps after an episode ended


def _entropy(probabilities):
  """Entropy over the last axis, with 0 log 0 = 0."""
  safe_log = jnp.log(jnp.where(probabilities > 0, probabilities, 1.0))
  return -jnp.sum(probabilities * safe_log, axis=-1)


def monte_carlo_returns(rewards, discounts, valid, discount: float = 1.0) -> jax.Array:
  """Return from every step: `G_t = r_t + discount * d_t * G_{t+1}`, 0 on padding steps.

  Args:
    rewards, discounts, valid: `[T, B]`; `discounts` is the env's (0 at the
      step that ends the episode), `valid` marks real steps.
    discount: the task's discount factor.

  Returns:
    `[T, B]` float32 returns.
  """
  def backward_step(next_return, step):
    reward, env_discount, is_valid = step
    step_return = jnp.where(is_valid, reward + discount * env_discount * next_return, 0.0)
    return step_return, step_return

  _, returns = jax.lax.scan(
      backward_step, jnp.zeros(rewards.shape[1:], jnp.float32),
      (rewards.astype(jnp.float32), discounts.astype(jnp.float32), valid), reverse=True)
  return returns


def distillation_loss(params, network, minibatch: DistillationBatch, value_loss_weight: float,
                      num_valid_per_device):
  """Masked loss of one device's minibatch `[M, ...]` and its (policy, value) parts.

  The sum over this device's valid steps is divided by the mean number of valid
  steps per device, so that the `pmean` of the devices' gradients is the
  gradient of the mean loss over all valid steps of the global minibatch.
  """
  logits, value = network.apply(params, minibatch.observation)
  policy_losses = optax.softmax_cross_entropy(logits, minibatch.action_weights)
  value_losses = jnp.square(value - minibatch.returns)
  masked_mean = lambda losses: jnp.sum(jnp.where(minibatch.valid, losses, 0.0)) / num_valid_per_device
  policy_loss = masked_mean(policy_losses)
  value_loss = masked_mean(value_losses)
  return policy_loss + value_loss_weight * value_loss, (policy_loss, value_loss)


def make_train_step(network, optimizer, value_loss_weight: float):
  """One gradient step on a minibatch split over the devices (call under pmap)."""

  def train_step(train_state: TrainState, minibatch: DistillationBatch):
    num_valid = jax.lax.psum(jnp.sum(minibatch.valid), AXIS_NAME)
    num_valid_per_device = jnp.maximum(num_valid / jax.lax.psum(1, AXIS_NAME), 1e-6)
    grad_fn = jax.grad(distillation_loss, has_aux=True)
    grads, (policy_loss, value_loss) = grad_fn(
        train_state.params, network, minibatch, value_loss_weight, num_valid_per_device)
    grads = jax.lax.pmean(grads, AXIS_NAME)
    policy_loss = jax.lax.pmean(policy_loss, AXIS_NAME)
    value_loss = jax.lax.pmean(value_loss, AXIS_NAME)
    new_state, step_metrics = apply_gradients(optimizer, train_state, grads, num_valid > 0)
    metrics = {"policy_loss": policy_loss, "value_loss": value_loss,
               "loss": policy_loss + value_loss_weight * value_loss, **step_metrics}
    return new_state, metrics

  return train_step


def act_greedily_in(search_policy, greedy_policy, acts_greedily):
  """A `PolicyFn` that keeps `search_policy`'s extras (its policy target) for every episode but
  takes `greedy_policy`'s action in the episodes where `acts_greedily` `[B]` is True."""

  def policy_fn(key, state, timestep):
    search_action, extras = search_policy(key, state, timestep)
    greedy_action, _ = greedy_policy(key, state, timestep)
    return jnp.where(acts_greedily[:, None], greedy_action, search_action), extras

  return policy_fn


def batch_shape(env, layout) -> DistillationBatch:
  """Shapes and dtypes of one device's `DistillationBatch` (`[T, B, ...]`)."""
  _, timestep = jax.eval_shape(env.reset, jax.random.PRNGKey(0))
  steps = (layout.num_steps, layout.episodes_per_device)
  shaped = lambda shape, dtype: jax.ShapeDtypeStruct(steps + tuple(shape), dtype)
  num_actions = math.prod(timestep.observation.action_mask.shape)
  return DistillationBatch(
      observation=jax.tree.map(lambda leaf: shaped(leaf.shape, leaf.dtype), timestep.observation),
      action_weights=shaped((num_actions,), jnp.float32), returns=shaped((), jnp.float32),
      valid=shaped((), jnp.bool_))


def make_algorithm(config, env, network) -> Algorithm:
  """Search distillation's init, collect and update for `run_experiment`."""
  layout = batch_layout(config, env)
  optimizer = make_optimizer(config, layout)
  train_step = make_train_step(network, optimizer, config.value_loss_weight)

  use_replay = config.replay_iterations > 1
  num_greedy_episodes = round(config.greedy_rollout_fraction * layout.episodes_per_device)

  def init(key):
    train_state = init_train_state(env, network, optimizer, key)
    if use_replay:
      train_state = train_state._replace(
          replay=replay.empty(batch_shape(env, layout), config.replay_iterations))
    return train_state

  def collect(train_state: TrainState, key):
    reset_key, search_key = jax.random.split(key)
    state, timestep = jax.vmap(env.reset)(jax.random.split(reset_key, layout.episodes_per_device))
    policy_fn = make_search_policy(
        env, network, train_state.params, num_simulations=config.num_simulations,
        max_num_considered_actions=config.max_num_considered_actions,
        gumbel_scale=config.gumbel_scale, discount=config.discount,
        policy_target=config.policy_target, value_scale=config.search_value_scale)
    if num_greedy_episodes:
      acts_greedily = jnp.arange(layout.episodes_per_device) < num_greedy_episodes
      policy_fn = act_greedily_in(
          policy_fn, make_greedy_policy(env, network, train_state.params), acts_greedily)
    _, _, transitions = rollout(env, policy_fn, search_key, state, timestep, layout.num_steps)
    valid = transitions.valid
    returns = monte_carlo_returns(transitions.reward, transitions.discount, valid, config.discount)
    batch = DistillationBatch(transitions.observation, transitions.policy_extras["action_weights"],
                              returns, valid)
    env_steps = jax.lax.psum(jnp.sum(valid), AXIS_NAME)
    episode_returns = jnp.sum(jnp.where(valid, transitions.reward, 0.0), axis=0)
    # The policy loss cannot go below the targets' entropy; their gap is the KL still to distill.
    target_entropy = jnp.sum(jnp.where(valid, _entropy(batch.action_weights), 0.0))
    metrics = {"env_steps": env_steps, "search_decisions": env_steps,
               "rollout_return": jax.lax.pmean(jnp.mean(episode_returns), AXIS_NAME),
               "target_entropy": jax.lax.psum(target_entropy, AXIS_NAME) / jnp.maximum(env_steps, 1)}
    return batch, metrics

  def update(train_state: TrainState, batch: DistillationBatch, key):
    buffer = replay.push(train_state.replay, batch) if use_replay else None
    steps = replay.as_steps(buffer) if use_replay else batch
    learner, metrics = train_on_batch(
        train_step, train_state._replace(replay=None), steps, key, config.num_epochs,
        layout.num_minibatches, layout.minibatch_per_device)
    return learner._replace(replay=buffer), metrics

  return Algorithm(init=init, collect=collect, update=update)

