"""Proximal Policy Optimization (Schulman et al., 2017) on the search-distillation network (`--mode=ppo`).

The baseline of the comparison: the same network, environment, evaluation,
workdir and infrastructure as `purepi.agents.distill`, with the search
replaced by sampling from the network's own policy. One iteration, on every
device at once (`jax.pmap`, gradients averaged with `lax.pmean`):

  1. Collect (`collect`): play `rollout_batch_size` fresh episodes, sampling
     each action from the masked categorical over the `E * I` (EMS, item)
     pairs; record its log-probability and the value at each step.
  2. Advantages (`generalized_advantages`): GAE(lambda) over the valid steps,
     cut at terminations; the value target is advantage + old value.
  3. Update (`update`): `num_epochs` passes of shuffled minibatches of
     `training_batch_size`, each a gradient step of
       -clipped surrogate + value_coef * clipped value loss - entropy_coef * entropy
     with Adam and global-norm clipping.

Side by side with distillation: step 1 is distillation's collection with a
sampling `policy_fn` instead of the search one; step 2 takes the place of
Monte-Carlo returns; step 3 has the same epoch/minibatch loop with the PPO
loss in place of cross-entropy + value regression. The loop, workdir,
checkpoints, evaluation (greedy, and the same search with this network as
prior and value) and the progress bar are `purepi.training.loop`'s.
"""
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from purepi.devices import AXIS_NAME
from purepi.masking import mask_invalid_actions
from purepi.policies.rollout import flat_invalid_actions, flatten_action, rollout, unflatten_action
from purepi.training.algorithm import (Algorithm, TrainState, apply_gradients, batch_layout,
                                       init_train_state, make_optimizer, train_on_batch)


class PPOBatch(NamedTuple):
  """One device's collected steps, `[T, B, ...]`."""
  observation: Any
  action: jax.Array  # [T, B] int32 flat action index over E * I
  log_prob: jax.Array  # [T, B] log-probability of `action` under the collecting policy
  value: jax.Array  # [T, B] value of the collecting network
  advantage: jax.Array  # [T, B] GAE advantage, 0 on padding steps
  target: jax.Array  # [T, B] value target, advantage + value
  valid: jax.Array  # [T, B] False on padding steps after an episode ended


# --- The masked categorical over E * I actions ------------------------------


def masked_log_probs(logits, invalid_actions) -> jax.Array:
  """Log-probabilities `[..., A]` of the categorical over the valid actions.

  Invalid actions get probability 0 (the exponential of the finite minimum
  underflows) and a finite, very negative log-probability; with every action
  invalid the result is the uniform distribution, still finite.
  """
  return jax.nn.log_softmax(mask_invalid_actions(logits, invalid_actions), axis=-1)


def entropy(log_probs) -> jax.Array:
  """Entropy `[...]` of categoricals given by `log_probs` `[..., A]`.

  An invalid action contributes exp(log p) * log p = 0 * (finite) = 0.
  """
  return -jnp.sum(jnp.exp(log_probs) * log_probs, axis=-1)


def log_prob_of(log_probs, flat_action) -> jax.Array:
  """`log_probs[..., flat_action]`, for `flat_action` `[...]`."""
  return jnp.take_along_axis(log_probs, flat_action[..., None], axis=-1)[..., 0]


def make_sampling_policy(env, network, params):
  """A batched `PolicyFn` sampling from the network's masked categorical.

  Returns `policy_fn(key, state, timestep) -> (action [B, A], {"log_prob": [B], "value": [B]})`.
  """
  grid_shape = env.action_grid_shape

  def policy_fn(key, state, timestep):
    del state
    observation = timestep.observation
    logits, value = network.apply(params, observation)
    log_probs = masked_log_probs(logits, flat_invalid_actions(observation))
    flat_action = jax.random.categorical(key, log_probs)
    extras = {"log_prob": log_prob_of(log_probs, flat_action), "value": value}
    return unflatten_action(flat_action, grid_shape), extras

  return policy_fn


# --- Advantages ---------------------------------------------------------------


def generalized_advantages(rewards, discounts, values, bootstrap_value, valid,
                           discount: float, gae_lambda: float):
  """GAE(lambda) of Schulman et al. (2016), eq. 16, over `[T, B]` steps.

    delta_t = r_t + discount * d_t * V_{t+1} - V_t
    A_t     = delta_t + discount * lambda * d_t * A_{t+1}

  where `d_t` is the env's discount (0 at the step that ends the episode, which
  cuts both the bootstrap and the sum there).

  Args:
    rewards, discounts, values, valid: `[T, B]`; `valid` marks real steps,
      padding after an episode ended gets advantage and target 0.
    bootstrap_value: `[B]` value of the state after the last step (only used
      where the episode is still running after `T` steps).
    discount, gae_lambda: the return's discount and GAE's lambda.

  Returns:
    `(advantages, targets)`, `[T, B]` float32 each; `targets = advantages + values`.
  """
  rewards = rewards.astype(jnp.float32)
  discounts = discounts.astype(jnp.float32)
  next_values = jnp.concatenate([values[1:], bootstrap_value[None]], axis=0)
  deltas = rewards + discount * discounts * next_values - values

  def backward_step(next_advantage, step):
    delta, env_discount, is_valid = step
    advantage = jnp.where(
        is_valid, delta + discount * gae_lambda * env_discount * next_advantage, 0.0)
    return advantage, advantage

  _, advantages = jax.lax.scan(
      backward_step, jnp.zeros(rewards.shape[1:], jnp.float32), (deltas, discounts, valid),
      reverse=True)
  targets = jnp.where(valid, advantages + values, 0.0)
  return advantages, targets


# --- The loss ---------------------------------------------------------------


def ppo_loss(params, network, minibatch: PPOBatch, normalized_advantage, config,
             num_valid_per_device):
  """PPO's loss on one device's minibatch `[M, ...]`, and its parts and diagnostics.

    ratio        = pi(a|s) / pi_old(a|s)
    policy_loss  = -mean(min(ratio * A, clip(ratio, 1 - clip_eps, 1 + clip_eps) * A))
    value_loss   = 0.5 * mean(max((V - G)^2, (V_old + clip(V - V_old, +-value_clip_eps) - G)^2))
    loss         = policy_loss + value_coef * value_loss - entropy_coef * entropy

  Means are over the valid steps: the sum over this device's valid steps over
  the mean number of valid steps per device, so the `pmean` over devices is
  the mean over the whole minibatch (as in `distill.distillation_loss`).
  """
  logits, value = network.apply(params, minibatch.observation)
  log_probs = masked_log_probs(logits, flat_invalid_actions(minibatch.observation))
  masked_mean = lambda x: jnp.sum(jnp.where(minibatch.valid, x, 0.0)) / num_valid_per_device

  # Padding steps get ratio 1, so no overflow can reach the gradient through them.
  log_ratio = jnp.where(minibatch.valid, log_prob_of(log_probs, minibatch.action) - minibatch.log_prob, 0.0)
  ratio = jnp.exp(log_ratio)
  clipped_ratio = jnp.clip(ratio, 1.0 - config.clip_eps, 1.0 + config.clip_eps)
  surrogate = jnp.minimum(ratio * normalized_advantage, clipped_ratio * normalized_advantage)
  policy_loss = -masked_mean(surrogate)

  clipped_value = minibatch.value + jnp.clip(
      value - minibatch.value, -config.value_clip_eps, config.value_clip_eps)
  value_losses = jnp.maximum(jnp.square(value - minibatch.target),
                             jnp.square(clipped_value - minibatch.target))
  value_loss = 0.5 * masked_mean(value_losses)

  mean_entropy = masked_mean(entropy(log_probs))
  loss = policy_loss + config.value_coef * value_loss - config.entropy_coef * mean_entropy
  diagnostics = {
      "loss": loss, "policy_loss": policy_loss, "value_loss": value_loss, "entropy": mean_entropy,
      # The low-variance estimator of KL(pi_old || pi): E[(ratio - 1) - log ratio].
      "approx_kl": masked_mean((ratio - 1.0) - log_ratio),
      "clip_fraction": masked_mean((jnp.abs(ratio - 1.0) > config.clip_eps).astype(jnp.float32)),
  }
  return loss, diagnostics


def make_train_step(network, optimizer, config):
  """One gradient step on a minibatch split over the devices (call under pmap).

  Advantages are normalised with the mean and standard deviation of the
  minibatch's valid steps over all devices.
  """

  def train_step(train_state: TrainState, minibatch: PPOBatch):
    valid = minibatch.valid
    psum = lambda x: jax.lax.psum(x, AXIS_NAME)
    num_valid = psum(jnp.sum(valid))
    safe_count = jnp.maximum(num_valid, 1)
    advantage_mean = psum(jnp.sum(jnp.where(valid, minibatch.advantage, 0.0))) / safe_count
    advantage_var = psum(jnp.sum(jnp.where(valid, jnp.square(minibatch.advantage - advantage_mean),
                                           0.0))) / safe_count
    normalized_advantage = (minibatch.advantage - advantage_mean) / (jnp.sqrt(advantage_var) + 1e-8)
    num_valid_per_device = jnp.maximum(num_valid / psum(1), 1e-6)

    grads, diagnostics = jax.grad(ppo_loss, has_aux=True)(
        train_state.params, network, minibatch, normalized_advantage, config, num_valid_per_device)
    grads = jax.lax.pmean(grads, AXIS_NAME)
    diagnostics = jax.lax.pmean(diagnostics, AXIS_NAME)
    new_state, step_metrics = apply_gradients(optimizer, train_state, grads, num_valid > 0)
    return new_state, dict(diagnostics, **step_metrics)

  return train_step


# --- The algorithm ----------------------------------------------------------


def make_algorithm(config, env, network) -> Algorithm:
  """PPO's init, collect and update for `run_experiment` (settings checked by `config.validate`)."""
  layout = batch_layout(config, env)
  optimizer = make_optimizer(config, layout)
  train_step = make_train_step(network, optimizer, config)

  def init(key):
    return init_train_state(env, network, optimizer, key)

  def collect(train_state: TrainState, key):
    reset_key, sample_key = jax.random.split(key)
    state, timestep = jax.vmap(env.reset)(jax.random.split(reset_key, layout.episodes_per_device))
    policy_fn = make_sampling_policy(env, network, train_state.params)
    _, final_timestep, transitions = rollout(env, policy_fn, sample_key, state, timestep, layout.num_steps)
    _, bootstrap_value = network.apply(train_state.params, final_timestep.observation)
    valid = transitions.valid
    values = transitions.policy_extras["value"]
    advantages, targets = generalized_advantages(
        transitions.reward, transitions.discount, values, bootstrap_value, valid,
        config.discount, config.gae_lambda)
    flat_action = flatten_action(transitions.action, env.action_grid_shape)
    batch = PPOBatch(transitions.observation, flat_action, transitions.policy_extras["log_prob"],
                     values, advantages, targets, valid)
    episode_returns = jnp.sum(jnp.where(valid, transitions.reward, 0.0), axis=0)
    metrics = {"env_steps": jax.lax.psum(jnp.sum(valid), AXIS_NAME),
               "rollout_return": jax.lax.pmean(jnp.mean(episode_returns), AXIS_NAME)}
    return batch, metrics

  def update(train_state: TrainState, batch: PPOBatch, key):
    return train_on_batch(train_step, train_state, batch, key, config.num_epochs,
                          layout.num_minibatches, layout.minibatch_per_device)

  return Algorithm(init=init, collect=collect, update=update)

