"""purepi: policy iteration via search distillation for 3D bin packing, in pure JAX.

Subpackages, each importable on its own, from the bottom up (a package imports
only packages above it in this list):
  purepi.env         the EMS BinPack environment (Jumanji BinPack-v2 semantics)
  purepi.search      batched Gumbel MuZero / MuZero tree search (mctx semantics)
  purepi.networks    the Flax policy-value transformer
  purepi.policies    the one rollout loop; search, greedy and heuristic policies
  purepi.evaluation  the held-out protocol, evaluator, baselines, reports, comparison
  purepi.training    the shared update machinery, devices, workdir, checkpoints, the loop
  purepi.agents      the trainers: search distillation and PPO (collect, loss, update)
  purepi.anytime     the anytime packer: the best plan of a load found in a time limit
  purepi.planner     `purepi.pack`: a load plan from Python, as `--mode=pack` makes it
  purepi.cli         the command line behind run.py and its tools (inspect, eval, ...)
`purepi.masking` (the one masking rule), `purepi.errors` (how a run can stop),
`purepi.config` (every setting) and `purepi.devices` (which device holds which
rows, in one process or several) sit below all of them.
"""

__version__ = "0.1.0"
__all__ = ["pack"]


def __getattr__(name):
  # `purepi.pack` loads JAX and the network only when first used: `import purepi` stays instant.
  if name == "pack":
    from purepi.planner import pack
    return pack
  raise AttributeError(f"module 'purepi' has no attribute {name!r}")
