"""Which action a simulation takes at a node: PUCT (MuZero) or Gumbel MuZero's rules.

Every function sees ONE tree (unbatched) and a scalar node index; `search`
vmaps them over the batch.
"""
from typing import Optional

import chex
import jax
import jax.numpy as jnp

from purepi.search import qtransforms
from purepi.search import seq_halving
from purepi.search import tree as tree_lib


def muzero_action_selection(
    rng_key: chex.PRNGKey,
    tree: tree_lib.Tree,
    node_index: chex.Numeric,
    depth: chex.Numeric,
    *,
    pb_c_init: float = 1.25,
    pb_c_base: float = 19652.0,
    qtransform=qtransforms.qtransform_by_parent_and_siblings,
) -> chex.Array:
  """MuZero's PUCT rule (MuZero, Schrittwieser et al. 2020, Appendix B).

    argmax_a  qtransform(Q)(a) + pi(a) * sqrt(N(s)) / (1 + N(a)) * (c1 + log((N(s) + c2 + 1) / c2))

  with c1 = `pb_c_init`, c2 = `pb_c_base`, pi = softmax(prior logits). A 1e-7 scaled
  uniform noise from `rng_key` breaks ties; invalid actions are masked at depth 0 only.

  Returns:
    `[]` int32 action.
  """
  visit_counts = tree.children_visits[node_index]
  node_visit = tree.node_visits[node_index]
  exploration_weight = pb_c_init + jnp.log((node_visit + pb_c_base + 1.) / pb_c_base)
  prior_probs = jax.nn.softmax(tree.children_prior_logits[node_index])
  policy_score = jnp.sqrt(node_visit) * exploration_weight * prior_probs / (visit_counts + 1)
  value_score = qtransform(tree, node_index)
  tie_break_noise = 1e-7 * jax.random.uniform(rng_key, (tree.num_actions,))
  to_argmax = value_score + policy_score + tie_break_noise
  return masked_argmax(to_argmax, tree.root_invalid_actions * (depth == 0))


@chex.dataclass(frozen=True)
class GumbelMuZeroExtraData:
  """What Gumbel MuZero keeps in `tree.extra_data`.

  root_gumbel: `[B, num_actions]` the Gumbel noise g(a) drawn once at the root
    (already multiplied by `gumbel_scale`).
  """
  root_gumbel: chex.Array


def gumbel_muzero_root_action_selection(
    rng_key: chex.PRNGKey,
    tree: tree_lib.Tree,
    node_index: chex.Numeric,
    *,
    num_simulations: chex.Numeric,
    max_num_considered_actions: chex.Numeric,
    qtransform=qtransforms.qtransform_completed_by_mix_value,
) -> chex.Array:
  """Sequential Halving with Gumbel at the root (Section 3, Algorithm 2).

  The first simulations visit the Gumbel-Top-m actions (the m largest
  g(a) + logits(a), m = min(`max_num_considered_actions`, number of valid
  actions)) in order; later ones visit, among the actions that Sequential
  Halving still keeps, the one with the largest g(a) + logits(a) + sigma(completedQ(a)).
  Both follow from one rule: pick the best action whose visit count equals the
  considered visit count of this simulation (see `seq_halving`).

  Returns:
    `[]` int32 action.
  """
  del rng_key  # deterministic given the Gumbel noise stored in the tree
  visit_counts = tree.children_visits[node_index]
  prior_logits = tree.children_prior_logits[node_index]
  completed_qvalues = qtransform(tree, node_index)
  table = jnp.array(seq_halving.get_table_of_considered_visits(
      max_num_considered_actions, num_simulations))
  num_valid_actions = jnp.sum(1 - tree.root_invalid_actions, axis=-1).astype(jnp.int32)
  num_considered = jnp.minimum(max_num_considered_actions, num_valid_actions)
  # Every simulation passes through the root, so its visit total is the simulation index.
  simulation_index = jnp.sum(visit_counts, axis=-1)
  considered_visit = table[num_considered, simulation_index]
  to_argmax = seq_halving.score_considered(
      considered_visit, tree.extra_data.root_gumbel, prior_logits, completed_qvalues, visit_counts)
  return masked_argmax(to_argmax, tree.root_invalid_actions)


def gumbel_muzero_interior_action_selection(
    rng_key: chex.PRNGKey,
    tree: tree_lib.Tree,
    node_index: chex.Numeric,
    depth: chex.Numeric,
    *,
    qtransform=qtransforms.qtransform_completed_by_mix_value,
) -> chex.Array:
  """Deterministic selection below the root (Section 5).

    argmax_a  pi'(a) - N(a) / (1 + sum_b N(b)),   pi' = softmax(logits + sigma(completedQ))

  so that the visit frequencies track the improved policy pi' without sampling.

  Returns:
    `[]` int32 action.
  """
  del rng_key, depth
  visit_counts = tree.children_visits[node_index]
  prior_logits = tree.children_prior_logits[node_index]
  completed_qvalues = qtransform(tree, node_index)
  improved_policy = jax.nn.softmax(prior_logits + completed_qvalues)
  return first_argmax(visit_deficit(improved_policy, visit_counts))


def visit_deficit(probs, visit_counts):
  """pi'(a) - N(a) / (1 + sum_b N(b)): how far each action lags behind its target frequency.

  Shapes `[num_actions]`.
  """
  return probs - visit_counts / (1 + jnp.sum(visit_counts, axis=-1, keepdims=True))


def masked_argmax(to_argmax: chex.Array, invalid_actions: Optional[chex.Array]) -> chex.Array:
  """argmax over the valid actions (the first one on ties; action 0 when none is valid).

  -inf is safe here (argmax only); never feed it to a softmax.
  """
  if invalid_actions is not None:
    to_argmax = jnp.where(invalid_actions, -jnp.inf, to_argmax)
  return first_argmax(to_argmax)


def first_argmax(values: chex.Array) -> chex.Array:
  """`jnp.argmax(values, axis=-1)` as int32: index of the first maximum (of the first NaN if any).

  Written as a max followed by a min over the indices that attain it: XLA:CPU
  runs argmax's (value, index) reduction one element at a time, while these two
  plain reductions vectorize (about twice as fast over 800 actions).
  """
  is_max = (values == jnp.max(values, axis=-1, keepdims=True)) | jnp.isnan(values)
  indices = jnp.arange(values.shape[-1], dtype=jnp.int32)
  return jnp.min(jnp.where(is_max, indices, values.shape[-1]), axis=-1)
