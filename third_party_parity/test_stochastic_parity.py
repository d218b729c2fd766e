"""purepi's Stochastic MuZero against mctx 0.0.71: identical trees, actions and weights.

The toy model has chance outcomes: the decision model maps (state, action) to an
afterstate with hashed chance logits and value; the chance model maps
(afterstate, outcome) to a state with hashed action logits, value, reward
(plus a term drawn from the key it receives, so key splitting is checked) and
discount (0 on some edges). Logits are coarsely rounded so ties occur. Every
field of `PolicyOutput`, the tree included, must be equal: integers exactly,
floats bit for bit.
"""
import jax
import jax.numpy as jnp
import mctx
import pytest

import purepi.search
from third_party_parity.comparison import assert_same
from third_party_parity.test_search_parity import invalid_action_patterns

LIBRARIES = {"mctx": mctx, "purepi": purepi.search}
BATCH_SIZE, NUM_ACTIONS, NUM_OUTCOMES = 6, 5, 3


def _hashed(ids, salt, shape=()):
  """Deterministic normals from uint32 ids: one draw of `shape` per id."""
  keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.PRNGKey(salt), i))(ids)
  return jax.vmap(lambda k: jax.random.normal(k, shape))(keys)


def toy_model(library):
  def decision_recurrent_fn(params, rng_key, action, state_id):
    del params, rng_key
    afterstate_id = state_id * jnp.uint32(7919) + action.astype(jnp.uint32) + 1
    output = library.DecisionRecurrentFnOutput(
        chance_logits=jnp.round(2 * _hashed(afterstate_id, 1, [NUM_OUTCOMES])) / 2,
        afterstate_value=_hashed(afterstate_id, 2))
    return output, afterstate_id

  def chance_recurrent_fn(params, rng_key, outcome, afterstate_id):
    del params
    state_id = afterstate_id * jnp.uint32(104729) + outcome.astype(jnp.uint32) + 3
    output = library.ChanceRecurrentFnOutput(
        action_logits=jnp.round(2 * _hashed(state_id, 3, [NUM_ACTIONS])) / 2,
        value=_hashed(state_id, 4),
        reward=jnp.abs(_hashed(state_id, 5)) + 0.01 * jax.random.uniform(rng_key, outcome.shape),
        discount=jnp.where(state_id % 5 == 0, 0.0, 0.9))
    return output, state_id

  return decision_recurrent_fn, chance_recurrent_fn


def compiled_policy(library, num_simulations, max_depth):
  decision_recurrent_fn, chance_recurrent_fn = toy_model(library)

  def run(key, invalid_actions, temperature):
    root_key, search_key = jax.random.split(key)
    root = library.RootFnOutput(
        prior_logits=jnp.round(2 * jax.random.normal(root_key, [BATCH_SIZE, NUM_ACTIONS])) / 2,
        value=jax.random.normal(jax.random.fold_in(root_key, 1), [BATCH_SIZE]),
        embedding=jnp.arange(BATCH_SIZE, dtype=jnp.uint32))
    return library.stochastic_muzero_policy(
        None, search_key, root, decision_recurrent_fn, chance_recurrent_fn, num_simulations,
        invalid_actions=invalid_actions, max_depth=max_depth, temperature=temperature)

  return jax.jit(run)


@pytest.mark.parametrize("num_simulations,max_depth", [(12, None), (9, 3)])
@pytest.mark.slow
def test_stochastic_muzero_policy_matches_mctx(num_simulations, max_depth):
  compiled = {name: compiled_policy(library, num_simulations, max_depth)
              for name, library in LIBRARIES.items()}
  patterns = invalid_action_patterns(jax.random.PRNGKey(11), BATCH_SIZE, NUM_ACTIONS)
  for seed in range(2):
    key = jax.random.PRNGKey(seed)
    for pattern_name in ("none_valid_mask", "random", "mixed_rows"):
      for temperature in (1.0, 0.0):
        args = (key, patterns[pattern_name], temperature)
        ours, theirs = compiled["purepi"](*args), compiled["mctx"](*args)
        assert_same(ours, theirs, path=f"seed {seed}, {pattern_name}, temperature {temperature}")


@pytest.mark.slow
def test_the_tree_alternates_decision_and_chance_nodes():
  output = compiled_policy(purepi.search, 12, None)(
      jax.random.PRNGKey(0), jnp.zeros([BATCH_SIZE, NUM_ACTIONS], bool), 1.0)
  tree = output.search_tree
  is_decision = tree.embeddings.is_decision_node
  used = tree.node_visits > 0
  assert bool(jnp.all(is_decision[:, 0]))
  parents = jnp.maximum(tree.parents, 0)
  parent_is_decision = jnp.take_along_axis(is_decision, parents, axis=1)
  has_parent = used & (tree.parents >= 0)
  assert bool(jnp.all(jnp.where(has_parent, parent_is_decision != is_decision, True)))
  assert int(jnp.sum(has_parent & ~is_decision)) > 0, "no chance node was expanded"
