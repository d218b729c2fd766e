"""Batched Gumbel MuZero / MuZero tree search in pure JAX, with mctx's public API."""
from purepi.search.action_selection import (
    GumbelMuZeroExtraData,
    gumbel_muzero_interior_action_selection,
    gumbel_muzero_root_action_selection,
    masked_argmax,
    muzero_action_selection,
)
from purepi.search.base import (
    InteriorActionSelectionFn,
    LoopFn,
    PolicyOutput,
    QTransform,
    RecurrentFn,
    RecurrentFnOutput,
    RecurrentState,
    RootActionSelectionFn,
    RootFnOutput,
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
from purepi.search.tree import SearchSummary, Tree, infer_batch_size

__all__ = [
    "GumbelMuZeroExtraData", "InteriorActionSelectionFn", "LoopFn", "PolicyOutput", "QTransform",
    "RecurrentFn", "RecurrentFnOutput", "RecurrentState", "RootActionSelectionFn", "RootFnOutput",
    "SearchSummary", "Tree", "get_sequence_of_considered_visits", "get_table_of_considered_visits",
    "gumbel_muzero_interior_action_selection", "gumbel_muzero_policy",
    "gumbel_muzero_root_action_selection", "infer_batch_size", "masked_argmax",
    "muzero_action_selection", "muzero_policy", "qtransform_by_min_max",
    "qtransform_by_parent_and_siblings", "qtransform_completed_by_mix_value", "search",
    "sequential_halving_phases",
]
