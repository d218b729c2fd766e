"""How the parity suite and the benchmarks compare purepi's outputs with a reference library's.

`assert_same` walks two outputs field by field (NamedTuples, chex dataclasses,
dicts, tuples): the same field names, dtypes and shapes; integers and booleans
equal; floats within `atol + rtol * |reference|`, where the tolerance is the
caller's (WORKSPACE.md, "Tests, parity and benchmarks", says which comparisons
are exact and why the others are not).
"""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

# The environment's comparisons (the env tests, the heuristics' and the env benchmark): observations
# and states are bit-identical, but three float32 quantities, `reward`, `volume_utilization` and
# `ratio_packed_items`, are the same quotient in both libraries compiled into different fusions,
# where XLA may divide or multiply by a reciprocal: they differ by at most 2 units in the last place
# (1.2e-7 measured), hence this absolute tolerance for the environment's floats.
ENV_FLOAT_TOLERANCE = 1e-6
# purepi's State fields that Jumanji's has no counterpart of, whatever they hold.
PUREPI_ONLY_FIELDS = ("lost_ems",)


def as_fields(value):
  """The named children of a NamedTuple, chex dataclass, dict or tuple; None for a leaf."""
  if hasattr(value, "_asdict"):
    return value._asdict()
  if dataclasses.is_dataclass(value):
    # A field holding None has no value: purepi's State.items_orientations, which Jumanji's State
    # lacks, is None for every instance without orientation rules (all of Jumanji's). Jumanji keeps
    # no count of the EMSs lost to full slots (State.lost_ems).
    return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)
            if getattr(value, field.name) is not None and field.name not in PUREPI_ONLY_FIELDS}
  if isinstance(value, dict):
    return dict(value)
  if isinstance(value, (tuple, list)):
    return {str(index): child for index, child in enumerate(value)}
  return None


def assert_same(ours, theirs, path="", atol=0.0, rtol=0.0):
  """Raises AssertionError naming the first field where `ours` and `theirs` differ."""
  our_fields, their_fields = as_fields(ours), as_fields(theirs)
  if our_fields is None:
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.dtype == theirs.dtype, f"{path}: dtype {ours.dtype} != {theirs.dtype}"
    assert ours.shape == theirs.shape, f"{path}: shape {ours.shape} != {theirs.shape}"
    if np.issubdtype(ours.dtype, np.floating):
      np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, err_msg=path)
    else:
      mismatch = np.argwhere(ours != theirs)
      assert mismatch.size == 0, f"{path}: {len(mismatch)} entries differ, first at {mismatch[0]}"
    return
  assert set(our_fields) == set(their_fields), f"{path}: fields {sorted(our_fields)} != {sorted(their_fields)}"
  for name in our_fields:
    assert_same(our_fields[name], their_fields[name], f"{path}.{name}", atol, rtol)


def random_valid_action(key, observation):
  """A uniformly random valid (ems_id, item_id) of one observation."""
  mask = observation.action_mask
  flat = jax.random.categorical(key, jnp.where(mask.reshape(-1), 0.0, -jnp.inf))
  return jnp.stack([flat // mask.shape[1], flat % mask.shape[1]]).astype(jnp.int32)
