"""The held-out evaluation of a network: greedy and with search, split over the devices.

Each device plays its share of the held-out instances (across processes, each
process its own devices' shares, and every process then gathers all outcomes).
The instances are played in chunks of at most `MAX_CHUNK_PER_DEVICE`
episodes per device, so that a progress bar can follow an evaluation that
takes minutes; each chunk runs the same compiled program.
"""
from typing import Dict

import jax
import numpy as np
from tqdm import tqdm

from purepi.devices import gather_rows, local_rows
from purepi.evaluation.protocol import EpisodeOutcome, evaluate_policy, held_out_keys, summarize
from purepi.policies.search_policy import make_greedy_policy, make_search_policy

MAX_CHUNK_PER_DEVICE = 64


def num_chunks(episodes_per_device: int) -> int:
  """The fewest equal chunks of at most `MAX_CHUNK_PER_DEVICE` episodes (one chunk if none divides well)."""
  for count in range(-(-episodes_per_device // MAX_CHUNK_PER_DEVICE), episodes_per_device + 1):
    if episodes_per_device % count == 0 and episodes_per_device // count >= 8:
      return count
  return 1


def make_evaluation_search_policy(config, env, network, params):
  """The search of the evaluation protocol: `eval_num_simulations` over
  `eval_max_num_considered_actions`, root noise `eval_gumbel_scale`, c_scale
  `eval_search_value_scale`."""
  return make_search_policy(
      env, network, params, num_simulations=config.eval_num_simulations,
      max_num_considered_actions=config.eval_max_num_considered_actions,
      gumbel_scale=config.eval_gumbel_scale, discount=config.discount,
      value_scale=config.eval_search_value_scale)


class Evaluator:
  """Greedy and search utilization on the held-out instances, split over the devices.

  The two evaluation programs are compiled once and reused at every evaluation.
  Called with parameters replicated over `devices` (one copy each, as the
  trainer's pmap holds them); no collective runs inside, so the programs need
  no axis name.
  """

  def __init__(self, config, env, network, devices, progress: bool = False):
    num_devices = len(devices)
    instance_keys, policy_key = held_out_keys(config)
    self.instance_keys = instance_keys
    self.policy_key = policy_key
    chunks = num_chunks(len(instance_keys) // num_devices)
    # [chunk, device, episodes, 2]: chunk c holds episodes c, c + chunks, ... of each device's share.
    self._chunked_keys = instance_keys.reshape(num_devices, -1, chunks, *instance_keys.shape[1:]).swapaxes(0, 2)
    mine = local_rows(devices)
    self._chunked_keys = self._chunked_keys.swapaxes(1, 2)[:, mine]
    self._policy_keys = jax.random.split(policy_key, chunks * num_devices).reshape(
        chunks, num_devices, -1)[:, mine]
    self._devices = devices
    self.num_simulations = config.eval_num_simulations
    self._progress = progress

    def greedy(params, keys, policy_key):
      return evaluate_policy(env, make_greedy_policy(env, network, params), keys, policy_key)

    def with_search(params, keys, policy_key):
      return evaluate_policy(env, make_evaluation_search_policy(config, env, network, params), keys,
                             policy_key)

    self._greedy = jax.pmap(greedy, devices=devices)
    self._search = jax.pmap(with_search, devices=devices)

  def outcomes(self, replicated_params) -> Dict[str, EpisodeOutcome]:
    """`{"greedy", "search"}` -> the `[N]` `EpisodeOutcome` of every held-out instance."""
    results = {}
    bar = tqdm(total=2 * len(self._chunked_keys), desc="evaluation", unit="chunk", leave=False,
               disable=not self._progress, dynamic_ncols=True)
    for name, evaluate in (("greedy", self._greedy), ("search", self._search)):
      chunks = []
      for keys, policy_keys in zip(self._chunked_keys, self._policy_keys):
        chunks.append(jax.device_get(evaluate(replicated_params, keys, policy_keys)))
        bar.update(1)
      # [chunk, local device, episode] -> every process's [device, chunk, episode] -> the
      # held-out order, [device, episode, chunk].
      by_device = gather_rows(jax.tree.map(lambda *parts: np.stack(parts, axis=1), *chunks),
                              self._devices)
      results[name] = jax.tree.map(lambda leaf: leaf.transpose(0, 2, 1).reshape(-1), by_device)
    bar.close()
    return results

  def __call__(self, replicated_params) -> Dict[str, float]:
    """`eval_{greedy,search}_{utilization,ci95,perfect_fraction,items_placed,overflowed_episodes}`
    (`protocol.summarize`)."""
    results = {}
    for name, outcome in self.outcomes(replicated_params).items():
      summary = summarize(outcome)
      results[f"eval_{name}_utilization"] = summary["mean"]
      results[f"eval_{name}_ci95"] = summary["ci95"]
      results[f"eval_{name}_perfect_fraction"] = summary["perfect_fraction"]
      results[f"eval_{name}_items_placed"] = summary["items_placed"]
      results[f"eval_{name}_overflowed_episodes"] = summary["overflowed_episodes"]
    return results
