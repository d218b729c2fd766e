"""Evaluation on a fixed set of held-out instances.

`evaluate_policy` plays one episode per key with any policy through the shared
rollout loop and returns each episode's final volume utilization; the
heuristic baselines, the greedy network and the network with search are all
measured by it, on the same instances.
"""
import dataclasses
import math
from pathlib import Path

import jax
import numpy as np

from purepi.agents.rollout import rollout


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


def _load_for_evaluation(config):
  """(run config with this call's evaluation settings, env, network, params) from `--checkpoint`.

  Without `--checkpoint` the workdir's latest checkpoint is used. The network
  and environment settings are the trained run's (its config.json), except
  `--csv_path`, which packs a real container's items with the trained policy.
  """
  from purepi.agents import experiment
  from purepi.networks import make_network
  params, run_config = experiment.load_params(config.checkpoint or config.workdir)
  evaluation_fields = ("eval_num_episodes", "eval_seed", "eval_num_simulations",
                       "eval_gumbel_scale", "num_renders", "workdir", "progress", "csv_path")
  run_config = dataclasses.replace(
      run_config, **{name: getattr(config, name) for name in evaluation_fields})
  return run_config, make_env(run_config), make_network(run_config), params


def main(config):
  """`--mode=eval`: greedy and search utilization of a checkpoint beside the heuristics."""
  from purepi import config as config_lib
  from purepi.agents import experiment, heuristics
  experiment.quiet_logging()
  run_config, env, network, params = _load_for_evaluation(config)
  devices = jax.local_devices()
  config_lib.validate_for_devices(run_config, len(devices))
  evaluator = experiment.Evaluator(run_config, env, network, devices)
  record = evaluator(experiment.replicate(params, devices))
  baselines = heuristics.baseline_table(env, evaluator.instance_keys, evaluator.policy_key)
  print(f"Held-out instances: {run_config.eval_num_episodes} (eval_seed {run_config.eval_seed}); "
        f"checkpoint {config.checkpoint or config.workdir}.")
  print(experiment.format_final_table(record, baselines, run_config.eval_num_simulations))


def render_main(config):
  """`--mode=render`: PNGs of `num_renders` held-out instances packed by the greedy network."""
  from purepi.agents import experiment
  experiment.quiet_logging()
  run_config, env, network, params = _load_for_evaluation(config)
  instance_keys, _ = held_out_keys(run_config)
  paths = experiment.render_greedy_instances(
      env, network, params, instance_keys[:run_config.num_renders], Path(config.workdir) / "renders")
  for path in paths:
    print(path)
