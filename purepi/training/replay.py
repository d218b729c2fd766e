"""An on-device replay buffer: the collected steps of the last K iterations.

The buffer is a batch pytree with one more leading axis, `[K, T, B, ...]`:
slot `K - 1` holds the newest iteration, slot 0 the oldest. It starts with
every step marked invalid, so slots not yet filled are never drawn, and it
lives in the `TrainState` (so it is checkpointed and a resumed run draws the
same minibatches). `train_on_batch` samples it like a single iteration's
`[K * T, B]` steps (`as_steps`): valid steps in a random order, without
replacement within an epoch.
"""
import jax
import jax.numpy as jnp


def empty(batch, num_iterations: int):
  """A buffer of `num_iterations` slots shaped like `batch` (`[T, B, ...]`, with a `valid` field)."""
  buffer = jax.tree.map(lambda leaf: jnp.zeros((num_iterations,) + leaf.shape, leaf.dtype), batch)
  return buffer._replace(valid=jnp.zeros_like(buffer.valid, dtype=bool))


def push(buffer, batch):
  """The buffer with `batch` as its newest slot and its oldest slot dropped."""
  return jax.tree.map(lambda slots, new: jnp.concatenate([slots[1:], new[None]], axis=0), buffer, batch)


def as_steps(buffer):
  """`[K, T, B, ...]` -> `[K * T, B, ...]`: the buffer as one batch of steps."""
  return jax.tree.map(lambda leaf: leaf.reshape((-1,) + leaf.shape[2:]), buffer)
