"""What a trainer is made of, and the update machinery every trainer shares.

A trainer (`purepi.agents.distill`, `purepi.agents.ppo`) supplies an
`Algorithm`: how to initialise its `TrainState`, how to collect a batch of
experience, and how to learn from it. `purepi.training.loop.run_experiment`
runs any `Algorithm`. Both trainers build their optimiser with
`make_optimizer`, split an iteration's data with `batch_layout` and take their
gradient steps through `train_on_batch`, so the two methods differ only in what
they collect and in their loss.
"""
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from purepi.errors import UsageError


class TrainState(NamedTuple):
  """Everything a trainer carries from one iteration to the next, all of it checkpointed.

  params, opt_state: the network's parameters and the optimiser's state.
  replay: a trainer's replay buffer (`purepi.training.replay`), or None.
  """
  params: Any
  opt_state: Any
  replay: Any = None


class Algorithm(NamedTuple):
  """What a trainer supplies.

  init: `key -> TrainState`, unreplicated.
  collect: `(train_state, key) -> (batch, metrics)`, one device's share of the
    episodes, run under `jax.pmap(axis_name=devices.AXIS_NAME)`. `metrics` are already
    reduced over devices and hold at least `env_steps` (valid steps, summed
    over devices) and `rollout_return`; a search-based trainer adds
    `search_decisions`.
  update: `(train_state, batch, key) -> (train_state, metrics)`, under the same
    pmap; metrics (`loss`, `policy_loss`, `value_loss`, ...) reduced over devices.
  """
  init: Callable
  collect: Callable
  update: Callable


def make_optimizer(config, layout) -> optax.GradientTransformation:
  """Adam after global-norm clipping; `cosine` decays the rate to 0 by the last iteration.

  The schedule counts Adam's steps, at most `num_epochs * layout.num_minibatches`
  per iteration; skipped all-padding minibatches do not count, so a cosine
  schedule ends a little above 0.
  """
  learning_rate = config.learning_rate
  if config.learning_rate_schedule == "cosine":
    steps_per_iteration = config.num_epochs * layout.num_minibatches
    learning_rate = optax.cosine_decay_schedule(
        config.learning_rate, decay_steps=config.num_iterations * steps_per_iteration)
  return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(learning_rate))


def apply_gradients(optimizer, train_state: TrainState, grads, has_data):
  """One optimiser step with device-averaged `grads`; a no-op when `has_data` is False.

  A minibatch with no valid step on any device must leave the state unchanged
  (Adam would otherwise still move the parameters with its momentum).

  Returns `(train_state, metrics)` with `grad_norm`, the global norm of `grads`
  before clipping, and `has_data` as a float for `train_on_batch`.
  """
  updates, opt_state = optimizer.update(grads, train_state.opt_state, train_state.params)
  params = optax.apply_updates(train_state.params, updates)
  keep_old_if_empty = lambda new, old: jnp.where(has_data, new, old)
  new_state = jax.tree.map(keep_old_if_empty, TrainState(params, opt_state), train_state)
  return new_state, {"grad_norm": optax.global_norm(grads), "has_data": has_data.astype(jnp.float32)}


class BatchLayout(NamedTuple):
  """How one iteration's data is split over the local devices (all static)."""
  episodes_per_device: int
  num_steps: int  # rollout length: max_num_items, since each valid step places one item
  num_minibatches: int  # per epoch
  minibatch_per_device: int


def batch_layout(config, env) -> BatchLayout:
  """The split of `rollout_batch_size` episodes and `training_batch_size` minibatches over all devices.

  Both sizes are global: every device of every process gets an equal share.
  """
  num_devices = jax.device_count()
  episodes_per_device = config.rollout_batch_size // num_devices
  minibatch_per_device = config.training_batch_size // num_devices
  num_steps = env.generator.max_num_items
  steps_per_device = num_steps * episodes_per_device
  if minibatch_per_device > steps_per_device:
    raise UsageError(
        f"--training_batch_size={config.training_batch_size} exceeds the "
        f"{steps_per_device * num_devices} steps collected per iteration "
        f"(rollout_batch_size x max_num_items)")
  return BatchLayout(episodes_per_device, num_steps, steps_per_device // minibatch_per_device,
                     minibatch_per_device)


def init_train_state(env, network, optimizer, key) -> TrainState:
  """Fresh network parameters (shaped by one observation of `env`) and optimiser state.

  Compiled as one program: run op by op, the reset and the initialisers compiled about a hundred
  small programs, seconds of every run's start (5 s of a tiny run's 44).
  """
  @jax.jit
  def init(key):
    _, timestep = env.reset(jax.random.PRNGKey(0))
    params = network.init(key, jax.tree.map(lambda leaf: leaf[None], timestep.observation))
    return TrainState(params, optimizer.init(params))

  return init(key)


def train_on_batch(train_step, train_state, batch, key, num_epochs: int, num_minibatches: int,
                   minibatch_size: int):
  """`num_epochs` passes of shuffled minibatches over one device's collected steps.

  Each epoch takes a random order with the valid steps first, so that padding
  steps gather in the last minibatches, which `train_step` skips once they are
  entirely padding (it reports `has_data` 0 for those).

  Args:
    train_step: `(train_state, minibatch) -> (train_state, metrics)`, metrics
      including `has_data`.
    train_state: the state before the first step.
    batch: `[T, B, ...]` pytree with a `valid` `[T, B]` field.
    key: shuffling key, split once per epoch.
    num_epochs, num_minibatches, minibatch_size: static sizes; the first
      `num_minibatches * minibatch_size` steps of each order are used.

  Returns:
    `(train_state, metrics)`, metrics averaged over the gradient steps taken.
  """
  num_steps = batch.valid.size
  flat_batch = jax.tree.map(lambda leaf: leaf.reshape((num_steps,) + leaf.shape[2:]), batch)

  def run_epoch(train_state, epoch_key):
    permutation = jax.random.permutation(epoch_key, num_steps)
    valid_first = permutation[jnp.argsort(~flat_batch.valid[permutation], stable=True)]
    minibatch_indexes = valid_first[:num_minibatches * minibatch_size].reshape(
        num_minibatches, minibatch_size)
    minibatches = jax.tree.map(lambda leaf: leaf[minibatch_indexes], flat_batch)
    return jax.lax.scan(train_step, train_state, minibatches)

  train_state, step_metrics = jax.lax.scan(run_epoch, train_state, jax.random.split(key, num_epochs))
  has_data = step_metrics.pop("has_data")
  num_updates = jnp.maximum(jnp.sum(has_data), 1.0)
  metrics = {name: jnp.sum(values * has_data) / num_updates for name, values in step_metrics.items()}
  return train_state, metrics
