"""Q-value transforms: how a node's Q(s, a) become the numbers action selection adds to priors.

Each transform takes ONE tree (unbatched) and a scalar node index and returns
`[num_actions]` values; the search vmaps them over the batch.
"""
import chex
import jax
import jax.numpy as jnp

from purepi.search import tree as tree_lib


def qtransform_by_min_max(tree: tree_lib.Tree, node_index: chex.Numeric, *,
                          min_value: chex.Numeric, max_value: chex.Numeric) -> chex.Array:
  """(Q(s, a) - min_value) / (max_value - min_value), with unvisited actions at 0.

  For known value bounds (MuZero's PUCT with a fixed value range).
  """
  qvalues = tree.qvalues(node_index)
  visit_counts = tree.children_visits[node_index]
  clipped_to_min = jnp.where(visit_counts > 0, qvalues, min_value)
  return (clipped_to_min - min_value) / (max_value - min_value)


def qtransform_by_parent_and_siblings(tree: tree_lib.Tree, node_index: chex.Numeric, *,
                                      epsilon: chex.Numeric = 1e-8) -> chex.Array:
  """Q normalized to [0, 1] by the min and max over v(s) and the visited Q(s, a).

  MuZero's min-max normalisation, with the bounds taken from the node itself:
  the parent value v(s) and its visited children's Q. Unvisited actions get 0.
  """
  qvalues = tree.qvalues(node_index)
  visit_counts = tree.children_visits[node_index]
  node_value = tree.node_values[node_index]
  visited_or_node_value = jnp.where(visit_counts > 0, qvalues, node_value)
  min_value = jnp.minimum(node_value, jnp.min(visited_or_node_value, axis=-1))
  max_value = jnp.maximum(node_value, jnp.max(visited_or_node_value, axis=-1))
  visited_or_min = jnp.where(visit_counts > 0, qvalues, min_value)
  return (visited_or_min - min_value) / jnp.maximum(max_value - min_value, epsilon)


def qtransform_completed_by_mix_value(
    tree: tree_lib.Tree,
    node_index: chex.Numeric,
    *,
    value_scale: chex.Numeric = 0.1,
    maxvisit_init: chex.Numeric = 50.0,
    rescale_values: bool = True,
    use_mixed_value: bool = True,
    epsilon: chex.Numeric = 1e-8,
) -> chex.Array:
  """sigma(completedQ): Gumbel MuZero's transformed completed Q-values.

  completedQ(a) = Q(s, a) if N(a) > 0 else v_mix (Section 4, with the
  mixed value of Appendix D, see `compute_mixed_value`; `use_mixed_value=False`
  completes with the raw network value instead). With `rescale_values` the
  completed Q are min-max rescaled to [0, 1] over the actions. Then
    sigma(q) = (c_visit + max_b N(b)) * c_scale * q          (Section 3.3)
  with c_visit = `maxvisit_init` and c_scale = `value_scale`.

  Returns:
    `[num_actions]` sigma(completedQ).
  """
  qvalues = tree.qvalues(node_index)
  visit_counts = tree.children_visits[node_index]
  raw_value = tree.raw_values[node_index]
  if use_mixed_value:
    prior_probs = jax.nn.softmax(tree.children_prior_logits[node_index])
    value = compute_mixed_value(raw_value, qvalues, visit_counts, prior_probs)
  else:
    value = raw_value
  completed_qvalues = complete_qvalues(qvalues, visit_counts, value)
  if rescale_values:
    completed_qvalues = rescale_to_unit_interval(completed_qvalues, epsilon)
  return sigma_scale(completed_qvalues, visit_counts, maxvisit_init, value_scale)


def sigma_scale(qvalues, visit_counts, maxvisit_init, value_scale):
  """sigma(q) = (c_visit + max_b N(b)) * c_scale * q  (Section 3.3). Shapes `[num_actions]`."""
  visit_scale = maxvisit_init + jnp.max(visit_counts, axis=-1)
  return visit_scale * value_scale * qvalues


def rescale_to_unit_interval(qvalues, epsilon):
  """(q - min q) / max(max q - min q, epsilon) over the last axis."""
  min_value = jnp.min(qvalues, axis=-1, keepdims=True)
  max_value = jnp.max(qvalues, axis=-1, keepdims=True)
  return (qvalues - min_value) / jnp.maximum(max_value - min_value, epsilon)


def complete_qvalues(qvalues, visit_counts, value):
  """completedQ(a) = Q(a) if N(a) > 0 else `value` (Section 4).

  Args:
    qvalues: `[num_actions]` Q(s, a), meaningless where N(a) = 0.
    visit_counts: `[num_actions]` N(a).
    value: `[]` the estimate that fills the unvisited actions.
  """
  return jnp.where(visit_counts > 0, qvalues, value)


def compute_mixed_value(raw_value, qvalues, visit_counts, prior_probs):
  """The mixed value v_mix of Appendix D.

    v_mix = (v_hat + (sum_b N(b)) * sum_{a: N(a)>0} pi(a) Q(a) / sum_{b: N(b)>0} pi(b))
            / (1 + sum_b N(b))

  an interpolation between the network's value v_hat and the prior-weighted
  mean Q of the visited actions.

  Args:
    raw_value: `[]` v_hat, the network value of the node.
    qvalues: `[num_actions]` Q(s, a), meaningless where N(a) = 0.
    visit_counts: `[num_actions]` N(a).
    prior_probs: `[num_actions]` pi(a), the softmax of the prior logits.

  Returns:
    `[]` v_mix.
  """
  visited = visit_counts > 0
  total_visits = jnp.sum(visit_counts, axis=-1)
  # A visited action may have prior probability 0 (e.g. masked); flooring pi at
  # the smallest normal float keeps the weighted mean finite.
  prior_probs = jnp.maximum(jnp.finfo(prior_probs.dtype).tiny, prior_probs)
  visited_prior_mass = jnp.sum(jnp.where(visited, prior_probs, 0.0), axis=-1)
  weighted_qvalue = jnp.sum(jnp.where(
      visited, prior_probs * qvalues / jnp.where(visited, visited_prior_mass, 1.0), 0.0), axis=-1)
  return (raw_value + total_visits * weighted_qvalue) / (total_visits + 1)


# mctx's own tests call this private helper by its mctx name: purepi's function, under that name.
_compute_mixed_value = compute_mixed_value
