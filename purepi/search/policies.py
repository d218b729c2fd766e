"""Search policies: run a search from a batch of roots and turn the tree into (action, target).

`gumbel_muzero_policy` is the policy-improvement operator of this project: its
`action_weights` softmax(logits + sigma(completedQ)) are the training target.
`muzero_policy` is the Expert-Iteration style alternative whose target is the
root visit distribution.
"""
import functools
from typing import Optional

import chex
import jax
import jax.numpy as jnp

from purepi.masking import mask_invalid_actions
from purepi.search import action_selection
from purepi.search import base
from purepi.search import compact_tree as compact_lib
from purepi.search import qtransforms
from purepi.search import seq_halving
from purepi.search.search import compact_search


def muzero_policy(
    params: base.Params,
    rng_key: chex.PRNGKey,
    root: base.RootFnOutput,
    recurrent_fn: base.RecurrentFn,
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
  """MuZero search: Dirichlet noise at the root, PUCT everywhere, act by visit counts.

  The root prior becomes (1 - `dirichlet_fraction`) * softmax(logits)
  + `dirichlet_fraction` * Dirichlet(`dirichlet_alpha`), masked to the valid
  actions. `action_weights` are the root visit frequencies N(a) / sum_b N(b);
  `action` is sampled from them sharpened by 1 / `temperature` (0 = argmax).

  Args:
    params: forwarded to `recurrent_fn`.
    rng_key: consumed; split into (action, Dirichlet, search) keys.
    root: `RootFnOutput` with `prior_logits [B, A]`, `value [B]`, `embedding [B, ...]`.
    recurrent_fn: `(params, key, action [B], embedding) -> (RecurrentFnOutput, embedding)`.
    num_simulations: static number of simulations (>= 1).
    invalid_actions: `[B, A]` nonzero where a root action is invalid, or None.
    max_depth: maximum depth of a simulation; default `num_simulations`.
    loop_fn: `jax.lax.fori_loop` or a drop-in replacement.
    qtransform: value term of PUCT.
    dirichlet_fraction, dirichlet_alpha: root exploration noise.
    pb_c_init, pb_c_base: c1 and c2 of PUCT.
    temperature: sharpening of the visit distribution when sampling `action`.

  Returns:
    `PolicyOutput(action [B], action_weights [B, A], search_tree)`.
  """
  validate_inputs(root, num_simulations, invalid_actions)
  rng_key, dirichlet_rng_key, search_rng_key = jax.random.split(rng_key, 3)
  root = root.replace(prior_logits=noisy_root_logits(
      dirichlet_rng_key, root.prior_logits, invalid_actions,
      dirichlet_alpha=dirichlet_alpha, dirichlet_fraction=dirichlet_fraction))
  interior_action_selection_fn = functools.partial(
      action_selection.muzero_action_selection,
      pb_c_base=pb_c_base, pb_c_init=pb_c_init, qtransform=qtransform)
  compact = compact_search(
      params=params,
      rng_key=search_rng_key,
      root=root,
      recurrent_fn=recurrent_fn,
      root_action_selection_fn=functools.partial(interior_action_selection_fn, depth=0),
      interior_action_selection_fn=interior_action_selection_fn,
      num_simulations=num_simulations,
      max_depth=max_depth,
      invalid_actions=invalid_actions,
      loop_fn=loop_fn)
  action_weights = compact_lib.root_view(compact).summary().visit_probs
  action = sample_by_visits(rng_key, action_weights, temperature)
  return base.PolicyOutput(action=action, action_weights=action_weights,
                           search_tree=compact_lib.to_tree(compact))


def gumbel_muzero_policy(
    params: base.Params,
    rng_key: chex.PRNGKey,
    root: base.RootFnOutput,
    recurrent_fn: base.RecurrentFn,
    num_simulations: int,
    invalid_actions: Optional[chex.Array] = None,
    max_depth: Optional[int] = None,
    loop_fn: base.LoopFn = jax.lax.fori_loop,
    *,
    qtransform: base.QTransform = qtransforms.qtransform_completed_by_mix_value,
    max_num_considered_actions: int = 16,
    gumbel_scale: chex.Numeric = 1.,
) -> base.PolicyOutput[action_selection.GumbelMuZeroExtraData]:
  """Full Gumbel MuZero ("Policy improvement by planning with Gumbel", Danihelka et al., ICLR 2022).

  1. Draw g(a) ~ Gumbel(0, 1) * `gumbel_scale` once per root; keep it in
     `tree.extra_data.root_gumbel`.
  2. Root: Sequential Halving with Gumbel over the Gumbel-Top-m actions
     (`action_selection.gumbel_muzero_root_action_selection`).
     Interior: the deterministic rule of Section 5
     (`action_selection.gumbel_muzero_interior_action_selection`).
  3. Act: A_{n+1} = argmax over the most visited considered actions of
     g(a) + logits(a) + sigma(completedQ(a))  (Section 3, Algorithm 2).
  4. Target: pi' = softmax(logits + sigma(completedQ))  (Section 4),
     the improved policy, returned as `action_weights`.

  Args:
    params: forwarded to `recurrent_fn`.
    rng_key: consumed; split into (search, Gumbel) keys.
    root: `RootFnOutput` with `prior_logits [B, A]`, `value [B]`, `embedding [B, ...]`.
    recurrent_fn: `(params, key, action [B], embedding) -> (RecurrentFnOutput, embedding)`.
    num_simulations: static number of simulations n (>= 1).
    invalid_actions: `[B, A]` nonzero where a root action is invalid, or None.
    max_depth: maximum depth of a simulation; default `num_simulations`.
    loop_fn: `jax.lax.fori_loop` or a drop-in replacement.
    qtransform: sigma(completedQ) (`qtransform_completed_by_mix_value`).
    max_num_considered_actions: m, the size of the Gumbel-Top-m sample.
    gumbel_scale: multiplies g; 0 gives a deterministic search.

  Returns:
    `PolicyOutput(action [B], action_weights [B, A], search_tree)`, with
    `search_tree.extra_data` a `GumbelMuZeroExtraData`.
  """
  validate_inputs(root, num_simulations, invalid_actions)
  root = root.replace(prior_logits=mask_invalid_actions(root.prior_logits, invalid_actions))
  rng_key, gumbel_rng_key = jax.random.split(rng_key)
  gumbel = gumbel_scale * jax.random.gumbel(
      gumbel_rng_key, shape=root.prior_logits.shape, dtype=root.prior_logits.dtype)
  compact = compact_search(
      params=params,
      rng_key=rng_key,
      root=root,
      recurrent_fn=recurrent_fn,
      root_action_selection_fn=functools.partial(
          action_selection.gumbel_muzero_root_action_selection,
          num_simulations=num_simulations,
          max_num_considered_actions=max_num_considered_actions,
          qtransform=qtransform),
      interior_action_selection_fn=functools.partial(
          action_selection.gumbel_muzero_interior_action_selection, qtransform=qtransform),
      num_simulations=num_simulations,
      max_depth=max_depth,
      invalid_actions=invalid_actions,
      extra_data=action_selection.GumbelMuZeroExtraData(root_gumbel=gumbel),
      loop_fn=loop_fn)
  # The root's statistics come from a one-node view of it: building the whole
  # `[B, N, A]` tree only for `search_tree` lets XLA skip it when unused.
  root_tree = compact_lib.root_view(compact)
  root_visits = root_tree.summary().visit_counts
  # Only the actions that survived Sequential Halving share the largest visit count
  # (fewer valid actions -> different count per batch row).
  considered_visit = jnp.max(root_visits, axis=-1, keepdims=True)
  completed_qvalues = jax.vmap(qtransform, in_axes=[0, None])(root_tree, root_tree.ROOT_INDEX)
  to_argmax = seq_halving.score_considered(
      considered_visit, gumbel, root.prior_logits, completed_qvalues, root_visits)
  action = action_selection.masked_argmax(to_argmax, invalid_actions)
  improved_logits = mask_invalid_actions(root.prior_logits + completed_qvalues, invalid_actions)
  return base.PolicyOutput(action=action, action_weights=jax.nn.softmax(improved_logits),
                           search_tree=compact_lib.to_tree(compact))


def validate_inputs(root, num_simulations, invalid_actions):
  if not isinstance(num_simulations, int) or num_simulations < 1:
    raise ValueError(f"num_simulations must be a positive int, got {num_simulations!r}")
  if root.prior_logits.ndim != 2:
    raise ValueError(f"root.prior_logits must be [B, num_actions], got shape {root.prior_logits.shape}")
  if root.value.shape != root.prior_logits.shape[:1]:
    raise ValueError(f"root.value must be [B] = {root.prior_logits.shape[:1]}, got {root.value.shape}")
  if invalid_actions is not None and invalid_actions.shape != root.prior_logits.shape:
    raise ValueError(f"invalid_actions has shape {invalid_actions.shape}, "
                     f"expected root.prior_logits' shape {root.prior_logits.shape}")


def logits_from_probs(probs):
  """log(p), with p floored at the smallest normal float so log never gives -inf."""
  return jnp.log(jnp.maximum(probs, jnp.finfo(probs.dtype).tiny))


def add_dirichlet_noise(rng_key, probs, *, dirichlet_alpha, dirichlet_fraction):
  """(1 - fraction) * probs + fraction * Dirichlet(alpha) noise, one draw per batch row."""
  batch_size, num_actions = probs.shape
  noise = jax.random.dirichlet(rng_key, alpha=jnp.full([num_actions], fill_value=dirichlet_alpha),
                               shape=(batch_size,))
  return (1 - dirichlet_fraction) * probs + dirichlet_fraction * noise


def noisy_root_logits(rng_key, prior_logits, invalid_actions, *, dirichlet_alpha, dirichlet_fraction):
  """MuZero's root prior: softmax(logits) mixed with Dirichlet noise, back to logits, masked."""
  noisy_probs = add_dirichlet_noise(rng_key, jax.nn.softmax(prior_logits),
                                    dirichlet_alpha=dirichlet_alpha,
                                    dirichlet_fraction=dirichlet_fraction)
  return mask_invalid_actions(logits_from_probs(noisy_probs), invalid_actions)


def sample_by_visits(rng_key, visit_probs, temperature):
  """An action drawn from the visit distribution sharpened by 1 / temperature (0 = argmax)."""
  logits = apply_temperature(logits_from_probs(visit_probs), temperature)
  return jax.random.categorical(rng_key, logits)


def apply_temperature(logits, temperature):
  """logits / temperature after shifting the max to 0 (no overflow); temperature 0 -> argmax."""
  logits = logits - jnp.max(logits, axis=-1, keepdims=True)
  return logits / jnp.maximum(jnp.finfo(logits.dtype).tiny, temperature)


# mctx's own tests call these private helpers of its policies module by these names; they are
# purepi's functions above, under mctx's names, so that those tests run on purepi unchanged.
_apply_temperature = apply_temperature
_mask_invalid_actions = mask_invalid_actions
