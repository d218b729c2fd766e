"""Batched MCTS in one XLA program: `num_simulations` rounds of simulate -> expand -> backward.

The search grows a `CompactTree` (edges stored at the child, see
`compact_tree`) and returns it as an mctx-layout `Tree`. The descent and the
backup are while loops over the whole batch whose carries are `[B]` vectors
(descent) or `[B, N]` arrays (backup); the only `[B, N, num_actions]` array in
the loop, the prior logits, gets one row per simulation. The results equal
mctx's (bit for bit in the parity suite).

Longer than 300 lines because the three phases of a simulation and the loop
that chains them share one loop state and read best side by side, as in
mctx's own `search.py`.
"""
from typing import Any, NamedTuple, Optional, Tuple

import chex
import jax
import jax.numpy as jnp

from purepi.search import base
from purepi.search import compact_tree as compact_lib
from purepi.search import tree as tree_lib

Tree = tree_lib.Tree
CompactTree = compact_lib.CompactTree


def search(
    params: base.Params,
    rng_key: chex.PRNGKey,
    *,
    root: base.RootFnOutput,
    recurrent_fn: base.RecurrentFn,
    root_action_selection_fn: base.RootActionSelectionFn,
    interior_action_selection_fn: base.InteriorActionSelectionFn,
    num_simulations: int,
    max_depth: Optional[int] = None,
    invalid_actions: Optional[chex.Array] = None,
    extra_data: Any = None,
    loop_fn: base.LoopFn = jax.lax.fori_loop) -> Tree:
  """Runs `num_simulations` simulations on a batch of trees and returns them.

  Simulation `sim` (0-based): descend from the root to an unexpanded edge
  (`simulate`), evaluate it with `recurrent_fn` and store the new node at index
  `sim + 1` (`expand`), then propagate its value back to the root (`backward`).

  Args:
    params: forwarded to `recurrent_fn`.
    rng_key: consumed; split once per simulation into (next, simulate, expand) keys.
    root: `RootFnOutput` with `prior_logits [B, A]`, `value [B]`, `embedding [B, ...]`.
    recurrent_fn: `(params, key, action [B], embedding) -> (RecurrentFnOutput, embedding)`.
    root_action_selection_fn: `(key, tree, node_index) -> action` for ONE tree, at depth 0.
    interior_action_selection_fn: `(key, tree, node_index, depth) -> action` below the root.
      Both receive a one-node `Tree` holding the node being decided (`compact_tree.node_view`).
    num_simulations: static number of simulations.
    max_depth: maximum number of edges from the root to a leaf; default `num_simulations`.
    invalid_actions: `[B, A]` nonzero where a root action is invalid; default none.
    extra_data: stored as `tree.extra_data` (`[B, ...]`), visible to action selection.
    loop_fn: `jax.lax.fori_loop` or a drop-in replacement.

  Returns:
    The `Tree` after all simulations.
  """
  return compact_lib.to_tree(compact_search(
      params, rng_key, root=root, recurrent_fn=recurrent_fn,
      root_action_selection_fn=root_action_selection_fn,
      interior_action_selection_fn=interior_action_selection_fn,
      num_simulations=num_simulations, max_depth=max_depth, invalid_actions=invalid_actions,
      extra_data=extra_data, loop_fn=loop_fn))


def compact_search(params, rng_key, *, root, recurrent_fn, root_action_selection_fn,
                   interior_action_selection_fn, num_simulations, max_depth=None,
                   invalid_actions=None, extra_data=None,
                   loop_fn=jax.lax.fori_loop) -> CompactTree:
  """`search`, returning the `CompactTree` the simulations grew (same arguments).

  The policies use this form: they read the root through `compact_tree.root_view`
  and build the full `Tree` only for `PolicyOutput.search_tree`, which XLA then
  drops when the caller does not use it.
  """
  batch_size = root.value.shape[0]
  if max_depth is None:
    max_depth = num_simulations
  if invalid_actions is None:
    invalid_actions = jnp.zeros_like(root.prior_logits)

  def one_simulation(sim, loop_state):
    rng_key, tree = loop_state
    rng_key, simulate_key, expand_key = jax.random.split(rng_key, 3)
    simulate_keys = jax.random.split(simulate_key, batch_size)
    parent_index, action, next_node_index = simulate(
        simulate_keys, tree, root_action_selection_fn, interior_action_selection_fn, max_depth)
    # A new node takes index `sim + 1`; at the depth cutoff the edge may already
    # lead to a node, which is then evaluated again in place.
    next_node_index = jnp.where(next_node_index == Tree.UNVISITED, sim + 1, next_node_index)
    tree = expand(params, expand_key, tree, recurrent_fn, parent_index, action, next_node_index)
    tree = backward(tree, next_node_index)
    return rng_key, tree

  tree = instantiate_tree_from_root(root, num_simulations, invalid_actions, extra_data)
  _, tree = loop_fn(0, num_simulations, one_simulation, (rng_key, tree))
  return tree


class _DescentState(NamedTuple):
  """Carry of the descent loop; every field is `[B]` (keys `[B, 2]`)."""
  rng_key: chex.Array
  node_index: chex.Array
  action: chex.Array
  next_node_index: chex.Array
  is_continuing: chex.Array


def simulate(rng_keys: chex.Array, tree: CompactTree, root_action_selection_fn,
             interior_action_selection_fn, max_depth: int) -> Tuple[chex.Array, chex.Array, chex.Array]:
  """Descends every tree from its root until an unexpanded edge or `max_depth`.

  Step 0 always happens at the root (depth 0), so it calls the root rule
  directly; the while loop then only evaluates the interior rule. The trees
  that are still descending at loop step k are all at depth k, so depth is one
  scalar for the whole batch.

  Args:
    rng_keys: one key per tree (`[B]` typed or `[B, 2]` raw); split once per step, and the second
      half goes to the action selection.
    tree: the batched compact tree (only read).
    root_action_selection_fn, interior_action_selection_fn: per-tree rules.
    max_depth: maximum number of edges from the root.

  Returns:
    `(parent_index [B], action [B], child [B])`: the node where the descent
    stopped, the action to evaluate from it, and the node that action already
    leads to (UNVISITED unless the descent stopped at `max_depth`).
  """
  def split_keys(keys):
    next_keys, selection_keys = jnp.moveaxis(jax.vmap(jax.random.split)(keys), 1, 0)
    return next_keys, selection_keys

  def select(selection_fn, keys, node_index, *depth):
    """Vmapped `selection_fn(key, one-node view, 0, *depth)` over the batch."""
    def one_tree(key, one_tree_compact, node):
      return selection_fn(key, compact_lib.node_view(one_tree_compact, node), Tree.ROOT_INDEX, *depth)
    return jax.vmap(one_tree)(keys, tree, node_index)

  def step_result(keys, node_index, action, depth):
    next_node_index = jax.vmap(compact_lib.child_index)(
        tree.parents, tree.action_from_parent, node_index, action)
    is_continuing = jnp.logical_and(next_node_index != Tree.UNVISITED, depth < max_depth)
    return _DescentState(keys, node_index, action, next_node_index, is_continuing)

  batch_size = rng_keys.shape[0]
  root_index = jnp.full([batch_size], Tree.ROOT_INDEX, dtype=jnp.int32)
  rng_keys, selection_keys = split_keys(rng_keys)
  root_action = select(root_action_selection_fn, selection_keys, root_index)
  state = step_result(rng_keys, root_index, root_action, 1)

  def interior_step(loop_state):
    depth, state = loop_state
    node_index = jnp.where(state.is_continuing, state.next_node_index, state.node_index)
    rng_keys, selection_keys = split_keys(state.rng_key)
    action = select(interior_action_selection_fn, selection_keys, node_index, depth)
    stepped = step_result(rng_keys, node_index, action, depth + 1)
    # Trees that stopped earlier keep their result.
    state = jax.tree.map(lambda new, old: _where_batch(state.is_continuing, new, old), stepped, state)
    return depth + 1, state

  _, state = jax.lax.while_loop(lambda loop_state: jnp.any(loop_state[1].is_continuing),
                                interior_step, (jnp.int32(1), state))
  return state.node_index, state.action, state.next_node_index


def expand(params: base.Params, rng_key: chex.PRNGKey, tree: CompactTree, recurrent_fn: base.RecurrentFn,
           parent_index: chex.Array, action: chex.Array, next_node_index: chex.Array) -> CompactTree:
  """Evaluates `action` from `parent_index` with `recurrent_fn`; stores the result at `next_node_index`.

  Args:
    params: forwarded to `recurrent_fn`.
    rng_key: consumed by `recurrent_fn`.
    tree: the batched compact tree.
    parent_index, action, next_node_index: `[B]` int32.

  Returns:
    The tree with the new node (priors, value, embedding, one more visit) and
    its incoming edge (parent, action, reward, discount) written in.
  """
  batch_size = tree.node_values.shape[0]
  parent_embedding = jax.tree.map(lambda x: _select_rows(x, parent_index), tree.embeddings)
  step, embedding = recurrent_fn(params, rng_key, action, parent_embedding)
  _check_shape(step.prior_logits, (batch_size, tree.num_actions), "recurrent_fn prior_logits")
  for name in ("reward", "discount", "value"):
    _check_shape(getattr(step, name), (batch_size,), f"recurrent_fn {name}")
  tree = update_tree_node(tree, next_node_index, step.prior_logits, step.value, embedding)
  return tree.replace(
      rewards=_set_rows(tree.rewards, step.reward, next_node_index),
      discounts=_set_rows(tree.discounts, step.discount, next_node_index),
      parents=_set_rows(tree.parents, parent_index, next_node_index),
      action_from_parent=_set_rows(tree.action_from_parent, action, next_node_index))


def backward(tree: CompactTree, leaf_index: chex.Array) -> CompactTree:
  """Backs the leaf's value up to the root of every tree (the backup of MCTS).

  At each step, for the edge (parent, action) that leads to `index`:
    G <- r(parent, action) + discount(parent, action) * G     (G starts at v(leaf))
    v(parent) <- (v(parent) * N(parent) + G) / (N(parent) + 1)
    N(parent) += 1
  The edge's own N(parent, action) and value are N(index) and v(index), already
  current (`compact_tree`). Trees already at their root write to an
  out-of-range row, which the scatter drops.

  Args:
    tree: the batched compact tree.
    leaf_index: `[B]` int32 the node just expanded.

  Returns:
    The updated tree.
  """
  num_nodes = tree.node_values.shape[1]

  def is_below_root(loop_state):
    _, _, _, index = loop_state
    return jnp.any(index != Tree.ROOT_INDEX)

  def one_level_up(loop_state):
    node_values, node_visits, leaf_value, index = loop_state
    active = index != Tree.ROOT_INDEX
    parent = _select_rows(tree.parents, index)
    count = _select_rows(node_visits, parent)
    leaf_value = _select_rows(tree.rewards, index) + _select_rows(tree.discounts, index) * leaf_value
    parent_value = (_select_rows(node_values, parent) * count + leaf_value) / (count + 1.0)
    written_parent = jnp.where(active, parent, num_nodes)
    node_values = _set_rows(node_values, parent_value, written_parent)
    node_visits = _set_rows(node_visits, count + 1, written_parent)
    return node_values, node_visits, leaf_value, jnp.where(active, parent, index)

  leaf_value = _select_rows(tree.node_values, leaf_index)
  node_values, node_visits, _, _ = jax.lax.while_loop(
      is_below_root, one_level_up, (tree.node_values, tree.node_visits, leaf_value, leaf_index))
  return tree.replace(node_values=node_values, node_visits=node_visits)


def update_tree_node(tree: CompactTree, node_index: chex.Array, prior_logits: chex.Array,
                     value: chex.Array, embedding: Any) -> CompactTree:
  """Writes a node's evaluation: priors `[B, A]`, raw and search value `[B]`, embedding, +1 visit.

  With `max_depth` an existing leaf can be evaluated again; it is overwritten
  and its visit count still grows by one.
  """
  return tree.replace(
      prior_logits=_set_rows(tree.prior_logits, prior_logits, node_index),
      raw_values=_set_rows(tree.raw_values, value, node_index),
      node_values=_set_rows(tree.node_values, value, node_index),
      node_visits=_set_rows(tree.node_visits, _select_rows(tree.node_visits, node_index) + 1,
                            node_index),
      embeddings=jax.tree.map(lambda stored, new: _set_rows(stored, new, node_index),
                              tree.embeddings, embedding))


def instantiate_tree_from_root(root: base.RootFnOutput, num_simulations: int,
                               root_invalid_actions: chex.Array, extra_data: Any) -> CompactTree:
  """Allocates `B` trees of `num_simulations + 1` nodes and writes the root (node 0)."""
  _check_rank(root.prior_logits, 2, "root.prior_logits")
  batch_size, num_actions = root.prior_logits.shape
  _check_shape(root.value, (batch_size,), "root.value")
  batch_node = (batch_size, num_simulations + 1)
  value_dtype = root.value.dtype
  tree = CompactTree(
      node_visits=jnp.zeros(batch_node, dtype=jnp.int32),
      raw_values=jnp.zeros(batch_node, dtype=value_dtype),
      node_values=jnp.zeros(batch_node, dtype=value_dtype),
      parents=jnp.full(batch_node, Tree.NO_PARENT, dtype=jnp.int32),
      action_from_parent=jnp.full(batch_node, Tree.NO_PARENT, dtype=jnp.int32),
      rewards=jnp.zeros(batch_node, dtype=value_dtype),
      discounts=jnp.zeros(batch_node, dtype=value_dtype),
      prior_logits=jnp.zeros(batch_node + (num_actions,), dtype=root.prior_logits.dtype),
      embeddings=jax.tree.map(
          lambda x: jnp.zeros(batch_node + x.shape[1:], dtype=x.dtype), root.embedding),
      root_invalid_actions=root_invalid_actions,
      extra_data=extra_data)
  root_index = jnp.full([batch_size], Tree.ROOT_INDEX, dtype=jnp.int32)
  return update_tree_node(tree, root_index, root.prior_logits, root.value, root.embedding)


def _select_rows(array, *indices):
  """`array[b, indices[0][b], indices[1][b], ...]` for every batch row b."""
  return array[(jnp.arange(array.shape[0]),) + indices]


def _set_rows(array, values, *indices):
  """Sets `array[b, indices...[b]] = values[b]` for every b; out-of-range rows are dropped."""
  return array.at[(jnp.arange(array.shape[0]),) + indices].set(values, mode="drop")


def _where_batch(condition, new, old):
  """`where(condition[b], new[b], old[b])` for arrays with extra trailing axes."""
  return jnp.where(condition.reshape(condition.shape + (1,) * (new.ndim - 1)), new, old)


def _check_shape(array, shape, name):
  if array.shape != tuple(shape):
    raise ValueError(f"{name} has shape {array.shape}, expected {tuple(shape)}")


def _check_rank(array, rank, name):
  if array.ndim != rank:
    raise ValueError(f"{name} has rank {array.ndim} (shape {array.shape}), expected rank {rank}")
