"""The evaluation protocol: which instances, how a policy is scored, how means are reported.

The environment a `Config` describes comes from `purepi.env.make`, for training and
evaluation alike. `held_out_keys` fixes the held-out instances from
`eval_seed`. `evaluate_policy` plays one episode per instance with any policy
through the shared rollout loop and returns each episode's `EpisodeOutcome`;
the heuristic baselines, the greedy network and the network with search are all
measured by it, on the same instances, and reported by `summarize`: mean
volume utilization with its 95% interval over instances, the fraction of
instances packed perfectly (every item placed), the mean number of items
placed, and how many episodes lost EMSs to full slots (`State.lost_ems`: their
utilization measures the slots as much as the policy).
"""
import math
import sys
from typing import Dict, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from purepi.env.make import ems_slots
from purepi.policies.rollout import rollout


class EpisodeOutcome(NamedTuple):
  """How each episode ended, `[N]` each."""
  utilization: jax.Array  # final volume utilization, in [0, 1]
  items_placed: jax.Array  # int32, items in the container at the end
  num_items: jax.Array  # int32, items of the instance
  # bool, the episode lost EMSs because its EMS slots ran out; None for an environment that does not
  # count them (Jumanji's, which the parity suite plays through this function too).
  ems_overflowed: Optional[jax.Array]


def evaluate_policy(env, policy_fn, instance_keys, policy_key) -> EpisodeOutcome:
  """Plays one episode per instance key to its end.

  Args:
    env: a BinPack environment.
    policy_fn: batched `(key, state, timestep) -> (action, extras)`.
    instance_keys: `[N, 2]` keys, one instance each (reset keys).
    policy_key: key for the policy's own randomness.

  Returns:
    The `[N]` `EpisodeOutcome` (jax arrays; call under jit for speed).
  """
  state, timestep = jax.vmap(env.reset)(instance_keys)
  num_steps = env.generator.max_num_items
  final_state, final_timestep, _ = rollout(env, policy_fn, policy_key, state, timestep, num_steps)
  return EpisodeOutcome(
      utilization=final_timestep.extras["volume_utilization"],
      items_placed=jnp.sum(final_state.items_placed, axis=-1, dtype=jnp.int32),
      num_items=jnp.sum(final_state.items_mask, axis=-1, dtype=jnp.int32),
      ems_overflowed=final_state.lost_ems > 0 if hasattr(final_state, "lost_ems") else None)


def first_state_values(env, network, params, instance_keys, batch_size: int = 16) -> jax.Array:
  """`[N]` the network's value at each instance's first state: its prediction of the final utilization.

  Computed `batch_size` instances at a time, so that large instances fit in memory.
  """
  def value(key):
    _, timestep = env.reset(key)
    return network.apply(params, timestep.observation)[1]

  return jax.lax.map(value, instance_keys, batch_size=batch_size)


def mean_with_ci95(values):
  """Mean and half-width of its 95% normal confidence interval (for many values: instances)."""
  values = np.asarray(values, dtype=np.float64)
  half_width = 1.96 * values.std(ddof=1) / math.sqrt(len(values)) if len(values) > 1 else float("nan")
  return float(values.mean()), float(half_width)


# Student's t quantile t_{0.975}(df) for df = 1..30.
_T_975 = (12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
          2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
          2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423)


def t_quantile_975(degrees_of_freedom: int) -> float:
  """t_{0.975} of Student's t: a table to 30 degrees of freedom, the Cornish-Fisher series beyond."""
  if degrees_of_freedom <= len(_T_975):
    return _T_975[degrees_of_freedom - 1]
  z, df = 1.959964, degrees_of_freedom
  return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)


def mean_with_t_interval(values):
  """Mean and half-width of its 95% Student-t interval (for few values: seeds); NaN for one value."""
  values = np.asarray(values, dtype=np.float64)
  if len(values) < 2:
    return float(values.mean()), float("nan")
  half_width = t_quantile_975(len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
  return float(values.mean()), float(half_width)


def summarize(outcome: EpisodeOutcome) -> Dict[str, float]:
  """What a table reports of a set of episodes.

  Returns `{"mean", "ci95"}` of the utilization (95% normal interval over the
  instances), `"perfect_fraction"`, the fraction of episodes that placed every
  item, `"items_placed"`, the mean number of items placed, and
  `"overflowed_episodes"`, how many episodes lost EMSs to full slots (None when not counted).
  """
  mean, ci95 = mean_with_ci95(outcome.utilization)
  items_placed = np.asarray(outcome.items_placed)
  return {"mean": mean, "ci95": ci95,
          "perfect_fraction": float(np.mean(items_placed == np.asarray(outcome.num_items))),
          "items_placed": float(np.mean(items_placed)),
          "overflowed_episodes": None if outcome.ems_overflowed is None else int(np.sum(outcome.ems_overflowed))}


def held_out_keys(config):
  """The fixed held-out set: `([eval_num_episodes, 2] instance keys, policy key)` from `eval_seed`.

  Every method and the heuristics are measured on these same instances.
  """
  instance_key, policy_key = jax.random.split(jax.random.PRNGKey(config.eval_seed))
  return jax.random.split(instance_key, config.eval_num_episodes), policy_key


def overflow_warning(config, overflowed: Dict[str, int], num_episodes: int) -> str:
  """The warning line for the episodes that lost EMSs to their `config.max_num_ems` full slots
  (`State.lost_ems`), `overflowed[policy]` of `num_episodes` each, naming a larger size; "" when none did."""
  most = max(overflowed.values())
  if not most:
    return ""
  by_policy = ", ".join(f"{policy} {count}" for policy, count in overflowed.items() if count)
  return (f"warning: EMSs overflowed their {config.max_num_ems} slots in {most} of {num_episodes} episodes"
          + (f" ({by_policy})" if len(overflowed) > 1 else "")
          + ": the free space past the slots was lost (Jumanji's rule), so these utilizations measure the "
          f"slots as well as the policy; --max_num_ems={max(ems_slots(config.max_num_items), 2 * config.max_num_ems)} "
          "holds them")


def warn_of_overflows(config, overflowed: Dict[str, int], num_episodes: int) -> None:
  """Prints `overflow_warning`'s line on stderr, if there is one."""
  warning = overflow_warning(config, overflowed, num_episodes)
  if warning:
    print(warning, file=sys.stderr)
