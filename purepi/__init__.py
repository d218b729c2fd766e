"""purepi: policy iteration via search distillation for 3D bin packing, in pure JAX.

Subpackages, each importable on its own:
  purepi.env       the EMS BinPack environment (Jumanji BinPack-v2 semantics)
  purepi.search    batched Gumbel MuZero / MuZero tree search (mctx semantics)
  purepi.networks  the Flax policy-value transformer
  purepi.agents    heuristics, rollouts, the distillation and PPO trainers
"""

__version__ = "0.1.0"
