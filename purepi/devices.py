"""Device placement: the train state on every device of every process, on the pmap axis.

Collection, updates and evaluation run under `jax.pmap` over `all_devices()`,
every device of every process (`purepi.training.distributed`); with one
process these are its local devices. Each process feeds and reads the rows of
its own devices (`local_rows`); collectives (`lax.psum`, `lax.pmean`) name the
axis `AXIS_NAME` and span all of them. Parameters and optimiser state are
replicated (one identical copy per device); a replay buffer is sharded (each
device keeps the steps it collected).

Random streams follow the global device index: device `g` of the run gets row
`g` of a key split over all devices (`per_device_keys`), whichever process
holds it, so the results do not depend on how devices are grouped into processes.
"""
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS_NAME = "devices"


def all_devices():
  """Every device of every process, in the run's (global) order."""
  return jax.devices()


def local_rows(devices):
  """Indexes, in `devices`, of this process's devices (in the order pmap feeds them)."""
  return np.asarray([index for index, device in enumerate(devices)
                     if device.process_index == jax.process_index()])


def per_device_keys(key, devices):
  """This process's rows of `key` split over all `devices`: `[num_local_devices, 2]`."""
  return jax.random.split(key, len(devices))[local_rows(devices)]


def shard(stacked_tree, devices):
  """`[num_local_devices, ...]` leaves -> row d on local device d, laid out as pmap's own outputs.

  pmap lays its outputs out on a device mesh named after its axis; inputs laid
  out any other way would make the first and second iteration compile apart.
  """
  return jax.pmap(lambda tree: tree, axis_name=AXIS_NAME, devices=devices)(stacked_tree)


def replicate(tree, devices):
  """One copy of `tree` per local device (see `shard`)."""
  num_local = len(local_rows(devices))
  return shard(jax.tree.map(lambda leaf: np.stack([np.asarray(leaf)] * num_local), tree), devices)


def unreplicate(tree):
  return jax.tree.map(lambda leaf: leaf[0], tree)


def _row_sharding(devices):
  return NamedSharding(Mesh(np.asarray(devices), (AXIS_NAME,)), PartitionSpec(AXIS_NAME))


def to_global(sharded_tree, devices):
  """pmap outputs (`[num_local_devices, ...]` per process) -> one `[num_devices, ...]` array each.

  The global arrays are what orbax saves and restores across processes, each
  process writing and reading its own devices' rows.
  """
  sharding = _row_sharding(devices)

  def globalize(leaf):
    rows = [shard.data for shard in leaf.addressable_shards]
    return jax.make_array_from_single_device_arrays((len(devices),) + leaf.shape[1:], sharding, rows)

  return jax.tree.map(globalize, sharded_tree)


def global_like(sharded_tree, devices):
  """Shapes of `to_global(sharded_tree)`, for restoring a checkpoint (nothing allocated)."""
  sharding = _row_sharding(devices)
  return jax.tree.map(lambda leaf: jax.ShapeDtypeStruct((len(devices),) + leaf.shape[1:], leaf.dtype,
                                                        sharding=sharding), sharded_tree)


def from_global(global_tree, devices):
  """The inverse of `to_global`: this process's rows, laid out as pmap's outputs."""
  local_devices = [devices[row] for row in local_rows(devices)]

  def localize(leaf):
    by_device = {shard.device: np.asarray(shard.data) for shard in leaf.addressable_shards}
    return np.concatenate([by_device[device] for device in local_devices])

  return shard(jax.tree.map(localize, global_tree), devices)


def gather_rows(local_tree, devices):
  """`[num_local_devices, ...]` leaves of every process -> `[num_devices, ...]` numpy leaves, in device order.

  With one process this is `jax.device_get`. Across processes every process
  receives every row (an all-gather), so every process can summarise them.
  """
  local_tree = jax.device_get(local_tree)
  if jax.process_count() == 1:
    return local_tree
  from jax.experimental import multihost_utils
  rows_of_process = multihost_utils.process_allgather(
      np.asarray(local_rows(devices)), tiled=False)  # [process, local]
  gathered = multihost_utils.process_allgather(local_tree, tiled=False)  # [process, local, ...]
  order = np.argsort(np.reshape(rows_of_process, -1))
  return jax.tree.map(
      lambda leaf: np.reshape(leaf, (-1,) + leaf.shape[2:])[order], gathered)
