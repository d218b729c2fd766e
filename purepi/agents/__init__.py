"""The two trainers, each an `Algorithm` (collect, loss, update): search distillation and PPO."""
