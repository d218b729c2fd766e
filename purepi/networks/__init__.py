"""Neural networks: the policy-value transformer shared by distillation and PPO."""
from purepi.networks.transformer import PolicyValueNetwork, make_network

__all__ = ["PolicyValueNetwork", "make_network"]
