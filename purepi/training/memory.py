"""How much memory a training configuration needs, estimated before anything is allocated.

The estimate adds the largest arrays a run keeps per device, from the shapes
of one environment state and observation (`jax.eval_shape`, nothing
allocated): the collected steps of one iteration, the replay buffer, the
search's working trees during collection and evaluation (one prior-logits row
and one environment state per node), and the minibatch's logits; doubled for
XLA's temporaries. It is a floor meant to refuse settings that cannot fit
(`--rollout_batch_size=100000000`), not a prediction.
"""
import math
import os

import jax

from purepi.devices import local_rows
from purepi.errors import UsageError

# XLA keeps temporaries beside the arrays counted here.
TEMPORARIES_FACTOR = 2


def tree_bytes(tree) -> int:
  return sum(math.prod(leaf.shape) * leaf.dtype.itemsize for leaf in jax.tree.leaves(tree))


def estimate_bytes(config, env, num_devices: int) -> int:
  """Bytes the run needs on all devices together (see the module docstring)."""
  state, timestep = jax.eval_shape(env.reset, jax.random.PRNGKey(0))
  num_actions = math.prod(timestep.observation.action_mask.shape)
  step_bytes = tree_bytes(timestep.observation) + 4 * num_actions + 16
  per_node_bytes = tree_bytes(state) + 4 * num_actions
  num_steps = env.generator.max_num_items
  episodes = config.rollout_batch_size / num_devices
  collected = num_steps * episodes * step_bytes
  replay = (config.replay_iterations if config.mode == "distill" else 0) * collected
  collection_search = (episodes * (config.num_simulations + 1) * per_node_bytes
                       if config.mode == "distill" else 0)
  evaluation_search = (config.eval_num_episodes / num_devices) * (config.eval_num_simulations + 1) * (
      per_node_bytes) + (config.eval_num_episodes / num_devices) * step_bytes
  minibatch = (config.training_batch_size / num_devices) * (step_bytes + 8 * num_actions)
  per_device = collected + replay + max(collection_search, evaluation_search) + minibatch
  return int(TEMPORARIES_FACTOR * per_device * num_devices)


def available_bytes(device) -> int:
  """Memory the device can still use: its allocator's limit (accelerators) or the host's free memory."""
  stats = device.memory_stats() if hasattr(device, "memory_stats") else None
  if stats and "bytes_limit" in stats:
    return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0)) * len(jax.local_devices())
  try:
    with open("/proc/meminfo") as meminfo:
      fields = dict(line.split(":", 1) for line in meminfo)
    return int(fields["MemAvailable"].split()[0]) * 1024
  except (OSError, KeyError, ValueError):
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_fits(config, env, devices) -> None:
  """Raises UsageError, in one line, when this process's share of the estimate exceeds its memory.

  `devices` are all the run's devices (every process's); this process holds
  its own devices' share of the batches.
  """
  mine = local_rows(devices)
  needed = estimate_bytes(config, env, len(devices)) * len(mine) // len(devices)
  available = available_bytes(devices[mine[0]])
  if needed > available:
    raise UsageError(
        f"these settings need about {needed / 2 ** 30:.1f} GiB (rollout_batch_size="
        f"{config.rollout_batch_size}, training_batch_size={config.training_batch_size}, "
        f"eval_num_episodes={config.eval_num_episodes}, num_simulations={config.num_simulations}, "
        f"replay_iterations={config.replay_iterations}) but {available / 2 ** 30:.1f} GiB are "
        "available: lower the batch sizes")
