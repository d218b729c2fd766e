"""The search's working form of a `Tree`: every edge stored at the node it leads to.

Each node has exactly one incoming edge, so the statistics mctx keeps in
`[B, N, num_actions]` tables (child index, visits, reward, discount, value of
each edge) fit in `[B, N]` arrays indexed by the child:

  Tree.children_index[b, p, a]     = the m with parents[b, m] == p and action_from_parent[b, m] == a
  Tree.children_visits[b, p, a]    = node_visits[b, m]
  Tree.children_values[b, p, a]    = node_values[b, m]
  Tree.children_rewards[b, p, a]   = rewards[b, m]
  Tree.children_discounts[b, p, a] = discounts[b, m]
  (0, or UNVISITED for the index, where no such m exists)

The visit and value identities hold after every simulation: the backup that
changes a child's N and v is the one that walks its incoming edge. Only the
prior logits remain `[B, N, num_actions]`, so a simulation allocates, fills and
updates about a sixth of what a `Tree` holds. Action selection still sees a
`Tree` (`node_view`, one node), and `search` returns a full one (`to_tree`).
"""
from typing import Any

import chex
import jax
import jax.numpy as jnp

from purepi.search import tree as tree_lib

Tree = tree_lib.Tree


@chex.dataclass(frozen=True)
class CompactTree:
  """`B` trees of `N` nodes, edges stored at the child.

  node_visits, raw_values, node_values, parents, action_from_parent,
  embeddings, root_invalid_actions, extra_data: as in `Tree`.
  rewards: `[B, N]` reward of the edge from the node's parent to the node.
  discounts: `[B, N]` discount of that edge.
  prior_logits: `[B, N, num_actions]` the node's policy logits (`Tree.children_prior_logits`).
  """
  node_visits: chex.Array
  raw_values: chex.Array
  node_values: chex.Array
  parents: chex.Array
  action_from_parent: chex.Array
  rewards: chex.Array
  discounts: chex.Array
  prior_logits: chex.Array
  embeddings: Any
  root_invalid_actions: chex.Array
  extra_data: Any

  @property
  def num_actions(self):
    return self.prior_logits.shape[-1]


def child_index(parents, action_from_parent, node_index, action):
  """The child reached by `action` from `node_index`, or UNVISITED. One tree: `[N]` arrays, scalars."""
  is_that_child = (parents == node_index) & (action_from_parent == action)
  return jnp.max(jnp.where(is_that_child, jnp.arange(parents.shape[-1]), Tree.UNVISITED))


def children_index_row(parents, action_from_parent, node_index, num_actions):
  """`Tree.children_index[node_index]` of one tree: `[num_actions]` child indices or UNVISITED."""
  num_nodes = parents.shape[-1]
  # Nodes that are not children of `node_index` aim past the row and are dropped.
  slots = jnp.where(parents == node_index, action_from_parent, num_actions)
  return jnp.full([num_actions], Tree.UNVISITED, jnp.int32).at[slots].set(
      jnp.arange(num_nodes, dtype=jnp.int32), mode="drop")


def _gather_children(per_node, children_index):
  """`per_node[children_index]`, 0 where there is no child (any leading batch axes)."""
  gathered = jnp.take_along_axis(per_node, jnp.maximum(children_index, 0), axis=-1)
  return jnp.where(children_index != Tree.UNVISITED, gathered, jnp.zeros_like(gathered))


def node_view(compact: CompactTree, node_index) -> Tree:
  """One tree's node `node_index` as an unbatched one-node `Tree` (its node index is 0).

  Everything an action-selection rule or qtransform reads at a node (its
  children's statistics, its own visits and values, root mask, extra data) is
  there; other nodes are not.
  """
  children = children_index_row(compact.parents, compact.action_from_parent, node_index,
                                compact.num_actions)
  row = lambda per_node: per_node[node_index][None]
  edge_row = lambda per_node: _gather_children(per_node, children)[None]
  return Tree(
      node_visits=row(compact.node_visits),
      raw_values=row(compact.raw_values),
      node_values=row(compact.node_values),
      parents=row(compact.parents),
      action_from_parent=row(compact.action_from_parent),
      children_index=children[None],
      children_prior_logits=row(compact.prior_logits),
      children_visits=edge_row(compact.node_visits),
      children_rewards=edge_row(compact.rewards),
      children_discounts=edge_row(compact.discounts),
      children_values=edge_row(compact.node_values),
      embeddings=jax.tree.map(row, compact.embeddings),
      root_invalid_actions=compact.root_invalid_actions,
      extra_data=compact.extra_data)


def root_view(compact: CompactTree) -> Tree:
  """Every tree's root as a batched one-node `Tree` (`[B, 1, ...]`): enough for `summary()` and qtransforms."""
  return jax.vmap(node_view, in_axes=(0, None))(compact, Tree.ROOT_INDEX)


def to_tree(compact: CompactTree) -> Tree:
  """The batched mctx-layout `Tree` of a `CompactTree` (scatters each edge to its parent's row)."""
  batch_size, num_nodes = compact.parents.shape
  batch_node_action = (batch_size, num_nodes, compact.num_actions)
  # The root and unused nodes have no parent; their scatter row is out of range and dropped.
  parent_rows = jnp.where(compact.parents == Tree.NO_PARENT, num_nodes, compact.parents)
  children_index = jnp.full(batch_node_action, Tree.UNVISITED, jnp.int32).at[
      jnp.arange(batch_size)[:, None], parent_rows, compact.action_from_parent].set(
          jnp.broadcast_to(jnp.arange(num_nodes, dtype=jnp.int32), (batch_size, num_nodes)), mode="drop")
  flat_children = children_index.reshape(batch_size, -1)
  edge_table = lambda per_node: _gather_children(per_node, flat_children).reshape(batch_node_action)
  return Tree(
      node_visits=compact.node_visits,
      raw_values=compact.raw_values,
      node_values=compact.node_values,
      parents=compact.parents,
      action_from_parent=compact.action_from_parent,
      children_index=children_index,
      children_prior_logits=compact.prior_logits,
      children_visits=edge_table(compact.node_visits),
      children_rewards=edge_table(compact.rewards),
      children_discounts=edge_table(compact.discounts),
      children_values=edge_table(compact.node_values),
      embeddings=compact.embeddings,
      root_invalid_actions=compact.root_invalid_actions,
      extra_data=compact.extra_data)
