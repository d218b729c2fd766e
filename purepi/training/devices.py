"""Device placement: one copy of the train state per local device, on the pmap axis.

Collection, updates and evaluation run under `jax.pmap` over every local
device; collectives (`lax.psum`, `lax.pmean`) name the axis `AXIS_NAME`.
"""
import jax
import numpy as np

AXIS_NAME = "devices"


def replicate(tree, devices):
  """One copy of `tree` per device, laid out exactly as pmap's own outputs.

  pmap lays its outputs out on a device mesh named after its axis; inputs laid
  out any other way would make the first and second iteration compile apart.
  """
  stacked = jax.tree.map(lambda leaf: np.stack([np.asarray(leaf)] * len(devices)), tree)
  return jax.pmap(lambda tree: tree, axis_name=AXIS_NAME, devices=devices)(stacked)


def unreplicate(tree):
  return jax.tree.map(lambda leaf: leaf[0], tree)
