"""The trained network a command reads: a workdir (its newest checkpoint), one of its checkpoints, or
a network exported on its own (`export_network`: its parameters beside the run's config.json).

`--mode=eval`, `render`, `inspect`, `pack` and `purepi.pack` all read their network through
`load_params`; a damaged exported network is refused in one line naming the file
(`read_network_file`).
"""
import json
from pathlib import Path

import jax
import numpy as np
from flax import serialization

from purepi.env.make import make_env
from purepi.errors import UsageError, naming
from purepi.networks import make_network
from purepi.training.checkpoints import Checkpointer
from purepi.training.workdir import load_config

# A trained network on its own (`export_network`): its parameters beside the run's config.json.
NETWORK_FILE = "params.msgpack"


def trained_run(checkpoint: str):
  """`(workdir, iteration)` of a workdir (its latest checkpoint: None), a checkpoints/<iteration>,
  or an exported network's directory (None)."""
  path = Path(checkpoint)
  if (path / "checkpoints").is_dir() or (path / NETWORK_FILE).is_file():
    return path, None
  if path.parent.name == "checkpoints" and path.name.isdigit():
    return path.parent.parent, int(path.name)
  raise UsageError(f"--checkpoint={checkpoint} is neither a workdir with checkpoints/, "
                   f"a checkpoints/<iteration> directory nor an exported network ({NETWORK_FILE})")


def load_run_config(checkpoint: str):
  """The trained run's `Config` (its workdir's config.json) of a workdir or checkpoint directory."""
  return load_config(trained_run(checkpoint)[0] / "config.json")


def load_params(checkpoint: str):
  """Params and the run's `Config` from a workdir (its latest checkpoint) or a checkpoint directory.

  The network and environment settings must be the trained run's, so they are
  read from the workdir's config.json.
  """
  workdir, iteration = trained_run(checkpoint)
  run_config = load_config(workdir / "config.json")
  if (workdir / NETWORK_FILE).is_file() and not (workdir / "checkpoints").is_dir():
    return read_network_file(workdir / NETWORK_FILE, run_config), run_config
  payload = Checkpointer(workdir / "checkpoints").restore_to_host(iteration)
  return payload["params"], run_config


def read_network_file(path: Path, run_config):
  """The parameters of an exported network, checked against the network its config.json describes.

  Raises:
    UsageError naming the file: cut short, empty or not a network file; or parameters of other
    names or shapes than that network's (another network's file, or a config.json that does not
    match it).
  """
  try:
    params = serialization.msgpack_restore(path.read_bytes())
  except Exception as error:  # msgpack raises several types for a damaged file
    raise UsageError(f"{path}: not a network purepi wrote, or damaged ({type(error).__name__}: {error}); "
                     "export it again with --mode=export") from None
  network = make_network(run_config)
  _, timestep = jax.eval_shape(make_env(run_config).reset, jax.random.PRNGKey(0))
  expected = jax.eval_shape(network.init, jax.random.PRNGKey(0), timestep.observation)
  shapes = lambda tree: {jax.tree_util.keystr(where): tuple(np.shape(leaf))
                         for where, leaf in jax.tree_util.tree_leaves_with_path(tree)}
  found, wanted = shapes(params) if isinstance(params, dict) else {}, shapes(expected)
  if found != wanted:
    differing = sorted(set(found) ^ set(wanted)) or sorted(name for name in found if found[name] != wanted[name])
    raise UsageError(f"{path}: its parameters are not those of the network {path.parent / 'config.json'} "
                     f"describes (first difference: {differing[0]}); the two files come from different runs")
  return params


def export_network(checkpoint: str, directory) -> Path:
  """Writes the trained network of `checkpoint` into `directory` on its own: `NETWORK_FILE` (the
  parameters, without optimiser state or replay buffer) and the run's config.json, holding no path
  of this machine (`workdir` is the run folder's name); `load_params` and `--checkpoint` read that
  directory. Returns the parameters' path."""
  params, _ = load_params(checkpoint)
  workdir, _ = trained_run(checkpoint)
  settings = json.loads((workdir / "config.json").read_text())
  settings.update(workdir=workdir.resolve().name, checkpoint="")
  directory = Path(directory)
  directory.mkdir(parents=True, exist_ok=True)
  for name, content in ((NETWORK_FILE, serialization.msgpack_serialize(jax.tree.map(np.asarray, params))),
                        ("config.json", (json.dumps(settings, indent=2) + "\n").encode())):
    temporary = directory / f"{name}.tmp"
    with naming(directory / name):
      temporary.write_bytes(content)
      temporary.replace(directory / name)
  return directory / NETWORK_FILE
