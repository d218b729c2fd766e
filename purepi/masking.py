"""The one rule for masking invalid actions out of a vector of logits.

Used by the search (root priors), the network (policy head) and PPO (masked
categorical), so every consumer puts exactly the same mass on invalid moves.
"""
import jax.numpy as jnp


def mask_invalid_actions(logits, invalid_actions):
  """Shifts `logits` so their max is 0 and sets invalid entries to the finite minimum.

  The finite minimum (never -inf) keeps softmax and log-softmax free of NaN when
  every action is invalid, as happens at the end of an episode.

  Args:
    logits: `[..., num_actions]` floats.
    invalid_actions: `[..., num_actions]` bools, True where the action is invalid,
      or None for no masking.

  Returns:
    `[..., num_actions]` masked logits of the same dtype.
  """
  if invalid_actions is None:
    return logits
  logits = logits - jnp.max(logits, axis=-1, keepdims=True)
  return jnp.where(invalid_actions, jnp.finfo(logits.dtype).min, logits)
