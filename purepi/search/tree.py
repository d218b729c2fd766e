"""The search tree of a batch of searches: fixed-size arrays, one node per simulation.

Node 0 is the root; the node first reached by simulation `i` gets index `i + 1`,
so a search with `num_simulations` simulations has `N = num_simulations + 1` nodes.
Edges are stored at their parent: `children_*[b, n, a]` describes the edge that
takes action `a` from node `n`.
"""
from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

import chex
import jax
import jax.numpy as jnp

T = TypeVar("T")


@chex.dataclass(frozen=True)
class Tree(Generic[T]):
  """State of `B` search trees with `N` nodes and `num_actions` actions.

  node_visits: `[B, N]` int32, N(s): how many simulations passed through the node.
  raw_values: `[B, N]` the model's value when the node was evaluated.
  node_values: `[B, N]` running mean of the backed-up returns (the node's search value).
  parents: `[B, N]` int32 parent node index (`NO_PARENT` at the root and unused nodes).
  action_from_parent: `[B, N]` int32 action that leads from the parent here.
  children_index: `[B, N, num_actions]` int32 child node index, or `UNVISITED`.
  children_prior_logits: `[B, N, num_actions]` the node's policy logits.
  children_visits: `[B, N, num_actions]` int32 N(a): visits of each edge.
  children_rewards: `[B, N, num_actions]` r(s, a) of each expanded edge.
  children_discounts: `[B, N, num_actions]` discount of each expanded edge.
  children_values: `[B, N, num_actions]` search value of the child behind each edge.
  embeddings: `[B, N, ...]` (pytree) the model state of each node.
  root_invalid_actions: `[B, num_actions]` nonzero where the root action is invalid.
  extra_data: `[B, ...]` anything the policy needs at selection time
    (Gumbel MuZero stores its root Gumbel noise here).
  """
  node_visits: chex.Array
  raw_values: chex.Array
  node_values: chex.Array
  parents: chex.Array
  action_from_parent: chex.Array
  children_index: chex.Array
  children_prior_logits: chex.Array
  children_visits: chex.Array
  children_rewards: chex.Array
  children_discounts: chex.Array
  children_values: chex.Array
  embeddings: Any
  root_invalid_actions: chex.Array
  extra_data: T

  ROOT_INDEX: ClassVar[int] = 0
  NO_PARENT: ClassVar[int] = -1
  UNVISITED: ClassVar[int] = -1

  @property
  def num_actions(self):
    return self.children_index.shape[-1]

  @property
  def num_simulations(self):
    return self.node_visits.shape[-1] - 1

  def qvalues(self, indices):
    """Q(s, a) = r(s, a) + discount(s, a) * v(child) for every action of the given node(s).

    `indices` is a scalar (unbatched tree) or `[B]` (batched tree); returns
    `[num_actions]` or `[B, num_actions]`. Unvisited actions give meaningless values.
    """
    if jnp.ndim(indices):
      return jax.vmap(_node_qvalues)(self, indices)
    return _node_qvalues(self, indices)

  def summary(self) -> SearchSummary:
    """Root statistics of a batched tree: visit counts and probabilities, value, Q."""
    if self.node_values.ndim != 2:
      raise ValueError(f"summary() needs a batched tree; node_values has shape {self.node_values.shape}")
    value = self.node_values[:, Tree.ROOT_INDEX]
    batch_size, = value.shape
    qvalues = self.qvalues(jnp.full((batch_size,), Tree.ROOT_INDEX))
    visit_counts = self.children_visits[:, Tree.ROOT_INDEX].astype(value.dtype)
    total_counts = jnp.sum(visit_counts, axis=-1, keepdims=True)
    # A root never visited (no simulation yet) gets the uniform distribution.
    visit_probs = jnp.where(total_counts > 0,
                            visit_counts / jnp.maximum(total_counts, 1),
                            1 / self.num_actions)
    return SearchSummary(visit_counts=visit_counts, visit_probs=visit_probs,
                         value=value, qvalues=qvalues)


@chex.dataclass(frozen=True)
class SearchSummary:
  """Root statistics, each `[B, num_actions]` except `value` `[B]`."""
  visit_counts: chex.Array
  visit_probs: chex.Array
  value: chex.Array
  qvalues: chex.Array


def infer_batch_size(tree: Tree) -> int:
  """The `B` of a batched tree; ValueError when the tree is not batched."""
  if tree.node_values.ndim != 2:
    raise ValueError(f"Tree is not batched: node_values has shape {tree.node_values.shape}")
  batch_size = tree.node_values.shape[0]
  for leaf in jax.tree_util.tree_leaves(tree):
    if leaf.shape[:1] != (batch_size,):
      raise ValueError(f"Tree leaf of shape {leaf.shape} does not start with batch size {batch_size}")
  return batch_size


def _node_qvalues(tree: Tree, index) -> chex.Array:
  return tree.children_rewards[index] + tree.children_discounts[index] * tree.children_values[index]
