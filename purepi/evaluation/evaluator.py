"""The held-out evaluation of a network: greedy and with search, split over the devices."""
from typing import Dict

import jax
import numpy as np

from purepi.evaluation.protocol import evaluate_policy, held_out_keys, mean_with_ci95
from purepi.policies.search_policy import make_greedy_policy, make_search_policy


class Evaluator:
  """Greedy and search utilization on the held-out instances, split over the devices.

  The two evaluation programs are compiled once and reused at every evaluation.
  Called with parameters replicated over `devices` (one copy each, as the
  trainer's pmap holds them); no collective runs inside, so the programs need
  no axis name.
  """

  def __init__(self, config, env, network, devices):
    num_devices = len(devices)
    instance_keys, policy_key = held_out_keys(config)
    self.instance_keys = instance_keys
    self.policy_key = policy_key
    self._sharded_keys = instance_keys.reshape(num_devices, -1, *instance_keys.shape[1:])
    self._policy_keys = jax.random.split(policy_key, num_devices)
    self.num_simulations = config.eval_num_simulations

    def greedy(params, keys, policy_key):
      return evaluate_policy(env, make_greedy_policy(env, network, params), keys, policy_key)

    def with_search(params, keys, policy_key):
      policy_fn = make_search_policy(
          env, network, params, num_simulations=config.eval_num_simulations,
          max_num_considered_actions=config.max_num_considered_actions,
          gumbel_scale=config.eval_gumbel_scale, discount=config.discount)
      return evaluate_policy(env, policy_fn, keys, policy_key)

    self._greedy = jax.pmap(greedy, devices=devices)
    self._search = jax.pmap(with_search, devices=devices)

  def __call__(self, replicated_params) -> Dict[str, float]:
    results = {}
    for name, evaluate in (("greedy", self._greedy), ("search", self._search)):
      utilizations = np.asarray(evaluate(replicated_params, self._sharded_keys, self._policy_keys))
      mean, ci95 = mean_with_ci95(utilizations.reshape(-1))
      results[f"eval_{name}_utilization"] = mean
      results[f"eval_{name}_ci95"] = ci95
    return results
