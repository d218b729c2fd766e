"""What an environment returns after `reset` and `step` (dm_env conventions, as a pytree)."""
from typing import Any, Dict, NamedTuple

import chex
import jax.numpy as jnp


class StepType:
  """Position of a time step in its episode, stored as int8."""
  FIRST = jnp.array(0, jnp.int8)
  MID = jnp.array(1, jnp.int8)
  LAST = jnp.array(2, jnp.int8)


class TimeStep(NamedTuple):
  """step_type: `StepType`; reward and discount: float32 scalars;
  observation: the env's `Observation`; extras: metrics the agent does not observe."""
  step_type: chex.Array
  reward: chex.Array
  discount: chex.Array
  observation: Any
  extras: Dict[str, chex.Array]

  def first(self) -> chex.Array:
    return self.step_type == StepType.FIRST

  def mid(self) -> chex.Array:
    return self.step_type == StepType.MID

  def last(self) -> chex.Array:
    return self.step_type == StepType.LAST


def restart(observation, extras) -> TimeStep:
  """First step of an episode: no reward yet, discount 1."""
  return TimeStep(step_type=StepType.FIRST, reward=jnp.zeros((), float),
                  discount=jnp.ones((), float), observation=observation, extras=extras)


def transition_or_termination(done, reward, observation, extras) -> TimeStep:
  """A MID step with discount 1, or the LAST step with discount 0 where `done`."""
  return TimeStep(step_type=jnp.where(done, StepType.LAST, StepType.MID),
                  reward=jnp.asarray(reward, float),
                  discount=jnp.where(done, 0.0, 1.0).astype(float),
                  observation=observation, extras=extras)
