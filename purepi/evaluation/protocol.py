"""The evaluation protocol: which instances, how a policy is scored, how means are reported.

`make_env` builds the environment a `Config` describes, for training and
evaluation alike. `held_out_keys` fixes the held-out instances from
`eval_seed`. `evaluate_policy` plays one episode per instance with any policy
through the shared rollout loop and returns each episode's final volume
utilization; the heuristic baselines, the greedy network and the network with
search are all measured by it, on the same instances.
"""
import math

import jax
import numpy as np

from purepi.policies.rollout import rollout


def make_env(config):
  """The BinPack environment a Config describes (random instances, or a CSV's)."""
  from purepi import env as env_lib
  if config.csv_path:
    # Padded to max_num_items, so a network trained on random instances can pack it.
    generator = env_lib.CSVGenerator(config.csv_path, max_num_ems=config.max_num_ems,
                                     max_num_items=config.max_num_items)
  else:
    generator = env_lib.RandomGenerator(
        max_num_items=config.max_num_items, max_num_ems=config.max_num_ems,
        split_num_same_items=config.split_num_same_items)
  return env_lib.BinPack(generator=generator, obs_num_ems=config.obs_num_ems)


def evaluate_policy(env, policy_fn, instance_keys, policy_key):
  """Final volume utilization of one episode per instance key.

  Args:
    env: a BinPack environment.
    policy_fn: batched `(key, state, timestep) -> (action, extras)`.
    instance_keys: `[N, 2]` keys, one instance each (reset keys).
    policy_key: key for the policy's own randomness.

  Returns:
    `[N]` float32 utilizations (jax array; call under jit for speed).
  """
  state, timestep = jax.vmap(env.reset)(instance_keys)
  num_steps = env.generator.max_num_items
  _, final_timestep, _ = rollout(env, policy_fn, policy_key, state, timestep, num_steps)
  return final_timestep.extras["volume_utilization"]


def mean_with_ci95(values):
  """Mean and half-width of its 95% normal confidence interval."""
  values = np.asarray(values, dtype=np.float64)
  half_width = 1.96 * values.std(ddof=1) / math.sqrt(len(values)) if len(values) > 1 else float("nan")
  return float(values.mean()), float(half_width)


def held_out_keys(config):
  """The fixed held-out set: `([eval_num_episodes, 2] instance keys, policy key)` from `eval_seed`.

  Every method and the heuristics are measured on these same instances.
  """
  instance_key, policy_key = jax.random.split(jax.random.PRNGKey(config.eval_seed))
  return jax.random.split(instance_key, config.eval_num_episodes), policy_key
