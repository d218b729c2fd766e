"""Stochastic MuZero search: decision nodes and chance nodes in one tree.

Stochastic MuZero (Antonoglou et al., "Planning in Stochastic Environments with
a Learned Model", ICLR 2022) splits every transition in two: the agent's action
leads from a state to an afterstate (a decision edge, no reward), and a chance
outcome leads from the afterstate to the next state (a chance edge, with the
reward and discount). The search below runs the ordinary `search` on a tree
whose nodes alternate between the two kinds:

- the action axis of the tree has `A + C` entries: the first `A` are actions
  (used at decision nodes), the last `C` chance outcomes (used at chance
  nodes); the other block of each node's prior logits is -inf;
- every node's embedding is a `StochasticRecurrentState` that says which kind
  it is (`stochastic_recurrent_fn` flips it on every edge);
- decision nodes pick by PUCT (`muzero_action_selection`), chance nodes pick
  the outcome whose prior probability most exceeds its share of visits,
  argmax_c P(c) / (N(c) + 1) (`chance_outcome_selection`).

The root is a decision node; the policy acts on the root's visit counts as
`muzero_policy` does.
"""
import functools
from typing import Optional

import chex
import jax
import jax.numpy as jnp

from purepi.search import action_selection
from purepi.search import base
from purepi.search import qtransforms
from purepi.search import tree as tree_lib
from purepi.search.policies import noisy_root_logits, sample_by_visits, validate_inputs
from purepi.search.search import search


def stochastic_muzero_policy(
    params: base.Params,
    rng_key: chex.PRNGKey,
    root: base.RootFnOutput,
    decision_recurrent_fn: base.DecisionRecurrentFn,
    chance_recurrent_fn: base.ChanceRecurrentFn,
    num_simulations: int,
    invalid_actions: Optional[chex.Array] = None,
    max_depth: Optional[int] = None,
    loop_fn: base.LoopFn = jax.lax.fori_loop,
    *,
    qtransform: base.QTransform = qtransforms.qtransform_by_parent_and_siblings,
    dirichlet_fraction: chex.Numeric = 0.25,
    dirichlet_alpha: chex.Numeric = 0.3,
    pb_c_init: chex.Numeric = 1.25,
    pb_c_base: chex.Numeric = 19652,
    temperature: chex.Numeric = 1.0) -> base.PolicyOutput[None]:
  """Stochastic MuZero search from a batch of roots; act by the root's visit counts.

  Args:
    params: forwarded to both recurrent functions.
    rng_key: consumed; split into (action, Dirichlet, search) keys.
    root: `RootFnOutput` with `prior_logits [B, A]`, `value [B]`, `embedding [B, ...]`.
    decision_recurrent_fn: `(params, key, action [B], state_embedding)
      -> (DecisionRecurrentFnOutput, afterstate_embedding)`.
    chance_recurrent_fn: `(params, key, chance_outcome [B], afterstate_embedding)
      -> (ChanceRecurrentFnOutput, state_embedding)`.
    num_simulations: static number of simulations (>= 1).
    invalid_actions: `[B, A]` nonzero where a root action is invalid, or None.
    max_depth: maximum depth of a simulation (decision and chance edges both count).
    loop_fn: `jax.lax.fori_loop` or a drop-in replacement.
    qtransform, dirichlet_fraction, dirichlet_alpha, pb_c_init, pb_c_base,
      temperature: as in `muzero_policy`.

  Returns:
    `PolicyOutput(action [B], action_weights [B, A], search_tree)`; the tree
    shows the decision block of the action axis (`A` entries per node).
  """
  validate_inputs(root, num_simulations, invalid_actions)
  num_actions = root.prior_logits.shape[-1]
  rng_key, dirichlet_rng_key, search_rng_key = jax.random.split(rng_key, 3)
  root_logits = noisy_root_logits(dirichlet_rng_key, root.prior_logits, invalid_actions,
                                  dirichlet_alpha=dirichlet_alpha,
                                  dirichlet_fraction=dirichlet_fraction)

  # One call of the decision model tells the number of chance outcomes C and
  # gives a placeholder afterstate of the right structure for the root.
  batch_size = root_logits.shape[0]
  placeholder_output, placeholder_afterstate = decision_recurrent_fn(
      params, rng_key, jnp.zeros([batch_size], jnp.int32), root.embedding)
  num_chance_outcomes = placeholder_output.chance_logits.shape[-1]
  root = base.RootFnOutput(
      prior_logits=jnp.concatenate(
          [root_logits, jnp.full([batch_size, num_chance_outcomes], -jnp.inf)], axis=-1),
      value=root.value,
      embedding=base.StochasticRecurrentState(
          state_embedding=root.embedding, afterstate_embedding=placeholder_afterstate,
          is_decision_node=jnp.ones([batch_size], bool)))

  selection_fn = stochastic_action_selection(
      functools.partial(action_selection.muzero_action_selection,
                        pb_c_base=pb_c_base, pb_c_init=pb_c_init, qtransform=qtransform),
      num_actions)
  tree = search(
      params=params,
      rng_key=search_rng_key,
      root=root,
      recurrent_fn=stochastic_recurrent_fn(decision_recurrent_fn, chance_recurrent_fn,
                                           num_actions, num_chance_outcomes),
      root_action_selection_fn=functools.partial(selection_fn, depth=0),
      interior_action_selection_fn=selection_fn,
      num_simulations=num_simulations,
      max_depth=max_depth,
      invalid_actions=invalid_actions,
      loop_fn=loop_fn)
  tree = slice_action_axis(tree, num_actions, "decision")
  action_weights = tree.summary().visit_probs
  action = sample_by_visits(rng_key, action_weights, temperature)
  return base.PolicyOutput(action=action, action_weights=action_weights, search_tree=tree)


def stochastic_recurrent_fn(decision_recurrent_fn: base.DecisionRecurrentFn,
                            chance_recurrent_fn: base.ChanceRecurrentFn,
                            num_actions: int, num_chance_outcomes: int) -> base.RecurrentFn:
  """One `RecurrentFn` over the `A + C` axis that expands decision and chance nodes alike.

  Both models are evaluated on the whole batch (`move` in `[0, A + C)`; as an
  action it is `move`, as a chance outcome `move - A`), and each batch row keeps
  the output that its parent's kind calls for:
  - from a decision node: the afterstate, its chance logits in the last `C`
    entries, reward 0 and discount 1 (the transition's reward comes on the
    chance edge);
  - from a chance node: the next state, its action logits in the first `A`
    entries, the model's reward and discount.
  """

  def recurrent_fn(params, rng_key, move, embedding: base.StochasticRecurrentState):
    batch_size = move.shape[0]
    decision_output, afterstate = decision_recurrent_fn(
        params, rng_key, move, embedding.state_embedding)
    from_decision = base.RecurrentFnOutput(
        prior_logits=jnp.concatenate(
            [jnp.full([batch_size, num_actions], -jnp.inf), decision_output.chance_logits], axis=-1),
        value=decision_output.afterstate_value,
        reward=jnp.zeros_like(decision_output.afterstate_value),
        discount=jnp.ones_like(decision_output.afterstate_value))
    chance_output, state = chance_recurrent_fn(
        params, rng_key, move - num_actions, embedding.afterstate_embedding)
    from_chance = base.RecurrentFnOutput(
        prior_logits=jnp.concatenate(
            [chance_output.action_logits, jnp.full([batch_size, num_chance_outcomes], -jnp.inf)],
            axis=-1),
        value=chance_output.value,
        reward=chance_output.reward,
        discount=chance_output.discount)

    def pick(decision_leaf, chance_leaf):
      is_decision = embedding.is_decision_node.reshape((-1,) + (1,) * (decision_leaf.ndim - 1))
      return jnp.where(is_decision, decision_leaf, chance_leaf)

    output = jax.tree.map(pick, from_decision, from_chance)
    child = base.StochasticRecurrentState(
        state_embedding=state, afterstate_embedding=afterstate,
        is_decision_node=~embedding.is_decision_node)
    return output, child

  return recurrent_fn


def chance_outcome_selection(tree: tree_lib.Tree, node_index: chex.Array) -> chex.Array:
  """argmax_c P(c) / (N(c) + 1) at a chance node: visits follow the outcome probabilities.

  `tree` is one tree whose action axis holds the `C` chance outcomes only.
  """
  outcome_probs = jax.nn.softmax(tree.children_prior_logits[node_index])
  visits = tree.children_visits[node_index]
  return jnp.argmax(outcome_probs / (visits + 1), axis=-1).astype(jnp.int32)


def stochastic_action_selection(decision_selection_fn: base.InteriorActionSelectionFn,
                                num_actions: int) -> base.InteriorActionSelectionFn:
  """An interior selection rule over the `A + C` axis: `decision_selection_fn` on the
  first `A` entries at decision nodes, `chance_outcome_selection` on the last `C`
  (shifted by `A`) at chance nodes. Sees one tree, like every selection rule."""

  def selection_fn(rng_key, tree, node_index, depth):
    decision = decision_selection_fn(
        rng_key, slice_action_axis(tree, num_actions, "decision"), node_index, depth)
    chance = chance_outcome_selection(slice_action_axis(tree, num_actions, "chance"),
                                      node_index) + num_actions
    return jnp.where(tree.embeddings.is_decision_node[node_index], decision, chance)

  return selection_fn


def slice_action_axis(tree: tree_lib.Tree, num_actions: int, kind: str) -> tree_lib.Tree:
  """The tree with every per-action array cut to its first `num_actions` entries
  (`kind="decision"`) or to the rest (`kind="chance"`)."""
  if kind == "decision":
    cut = lambda per_action: per_action[..., :num_actions]
  elif kind == "chance":
    cut = lambda per_action: per_action[..., num_actions:]
  else:
    raise ValueError(f"kind must be 'decision' or 'chance', got {kind!r}")
  return tree.replace(
      children_index=cut(tree.children_index),
      children_prior_logits=cut(tree.children_prior_logits),
      children_visits=cut(tree.children_visits),
      children_rewards=cut(tree.children_rewards),
      children_discounts=cut(tree.children_discounts),
      children_values=cut(tree.children_values),
      root_invalid_actions=cut(tree.root_invalid_actions))
