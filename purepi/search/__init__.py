"""Batched Gumbel MuZero / MuZero / Stochastic MuZero tree search in pure JAX, with mctx's public API."""
from purepi.search.action_selection import (
    GumbelMuZeroExtraData,
    gumbel_muzero_interior_action_selection,
    gumbel_muzero_root_action_selection,
    masked_argmax,
    muzero_action_selection,
)
from purepi.search.base import (
    ChanceRecurrentFnOutput,
    DecisionRecurrentFnOutput,
    InteriorActionSelectionFn,
    LoopFn,
    PolicyOutput,
    QTransform,
    RecurrentFn,
    RecurrentFnOutput,
    RecurrentState,
    RootActionSelectionFn,
    RootFnOutput,
    StochasticRecurrentState,
)
from purepi.search.policies import gumbel_muzero_policy, muzero_policy
from purepi.search.qtransforms import (
    qtransform_by_min_max,
    qtransform_by_parent_and_siblings,
    qtransform_completed_by_mix_value,
)
from purepi.search.search import search
from purepi.search.seq_halving import (
    get_sequence_of_considered_visits,
    get_table_of_considered_visits,
    sequential_halving_phases,
)
from purepi.search.stochastic_muzero import stochastic_muzero_policy
from purepi.search.tree import SearchSummary, Tree, infer_batch_size

__all__ = [
    "ChanceRecurrentFnOutput", "DecisionRecurrentFnOutput", "GumbelMuZeroExtraData", "InteriorActionSelectionFn", "LoopFn", "PolicyOutput", "QTransform",
    "RecurrentFn", "RecurrentFnOutput", "RecurrentState", "RootActionSelectionFn", "RootFnOutput",
    "SearchSummary", "Tree", "get_sequence_of_considered_visits", "get_table_of_considered_visits",
    "gumbel_muzero_interior_action_selection", "gumbel_muzero_policy",
    "gumbel_muzero_root_action_selection", "infer_batch_size", "masked_argmax",
    "muzero_action_selection", "muzero_policy", "qtransform_by_min_max",
    "qtransform_by_parent_and_siblings", "qtransform_completed_by_mix_value", "search",
    "sequential_halving_phases", "stochastic_muzero_policy", "StochasticRecurrentState",
]
