"""Device placement: the train state on every local device, on the pmap axis.

Collection, updates and evaluation run under `jax.pmap` over every local
device; collectives (`lax.psum`, `lax.pmean`) name the axis `AXIS_NAME`.
Parameters and optimiser state are replicated (one identical copy per device);
a replay buffer is sharded (each device keeps the steps it collected).
"""
import jax
import numpy as np

AXIS_NAME = "devices"


def shard(stacked_tree, devices):
  """`[num_devices, ...]` leaves -> row d on device d, laid out exactly as pmap's own outputs.

  pmap lays its outputs out on a device mesh named after its axis; inputs laid
  out any other way would make the first and second iteration compile apart.
  """
  return jax.pmap(lambda tree: tree, axis_name=AXIS_NAME, devices=devices)(stacked_tree)


def replicate(tree, devices):
  """One copy of `tree` per device (see `shard`)."""
  return shard(jax.tree.map(lambda leaf: np.stack([np.asarray(leaf)] * len(devices)), tree), devices)


def unreplicate(tree):
  return jax.tree.map(lambda leaf: leaf[0], tree)
