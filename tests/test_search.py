"""purepi.search on its own: Sequential Halving schedule, sigma / completed-Q math, masking, shapes."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st

from purepi import search
from purepi.search import action_selection, compact_tree, qtransforms
from purepi.search.search import compact_search

# ---------------------------------------------------------------- Sequential Halving


@given(st.integers(0, 40), st.integers(1, 300))
def test_schedule_has_one_entry_per_simulation(max_num_considered, num_simulations):
  sequence = search.get_sequence_of_considered_visits(max_num_considered, num_simulations)
  assert len(sequence) == num_simulations
  assert list(sequence) == sorted(sequence)


@given(st.integers(2, 40), st.integers(1, 300))
def test_schedule_follows_the_papers_phases(max_num_considered, num_simulations):
  """Each phase gives its m_phase actions max(1, floor(n / (ceil(log2 m) * m_phase))) visits, then halves."""
  phases = search.sequential_halving_phases(max_num_considered, num_simulations)
  expected_considered = max_num_considered
  visits_before = 0
  for phase in phases:
    assert phase.num_considered == expected_considered
    assert phase.visits_per_action == max(1, num_simulations // (
        math.ceil(math.log2(max_num_considered)) * expected_considered))
    full_phase = [visits_before + round_index for round_index in range(phase.visits_per_action)
                  for _ in range(phase.num_considered)]
    assert list(phase.considered_visits) == full_phase[:len(phase.considered_visits)]
    visits_before += phase.visits_per_action
    expected_considered = max(2, expected_considered // 2)
  assert sum(len(phase.considered_visits) for phase in phases) == num_simulations
  assert phases[-1].first_simulation + len(phases[-1].considered_visits) == num_simulations


@given(st.integers(0, 20), st.integers(1, 120))
def test_schedule_always_has_an_eligible_action_and_halves(max_num_considered, num_simulations):
  """Visiting, at each step, the best-ranked action whose count equals the considered visit

  always finds one, spends exactly the budget, and leaves counts that never grow
  with the rank (the eliminated actions stay behind).
  """
  num_actions = max(1, max_num_considered)
  visits = [0] * num_actions
  for considered_visit in search.get_sequence_of_considered_visits(max_num_considered, num_simulations):
    eligible = [a for a in range(num_actions) if visits[a] == considered_visit]
    assert eligible, (visits, considered_visit)
    visits[eligible[0]] += 1
  assert sum(visits) == num_simulations
  assert visits == sorted(visits, reverse=True)


def test_schedule_for_16_actions_and_32_simulations():
  """ceil(log2 16) = 4 phases: 16 x 1 visit, 8 x 1, 4 x 2 (budget 16 + 8 + 8 = 32)."""
  phases = search.sequential_halving_phases(16, 32)
  assert [(p.first_simulation, p.num_considered, p.visits_per_action) for p in phases] == [
      (0, 16, 1), (16, 8, 1), (24, 4, 2)]
  assert search.get_sequence_of_considered_visits(16, 32) == (0,) * 16 + (1,) * 8 + (2, 2, 2, 2, 3, 3, 3, 3)
  table = search.get_table_of_considered_visits(16, 32)
  assert len(table) == 17 and all(len(row) == 32 for row in table)
  assert table[1] == tuple(range(32))


# ---------------------------------------------------------------- sigma and completed Q


def _single_node_tree(prior_logits, visits, qvalues, raw_value):
  """An unbatched tree whose root has the given children statistics (reward = Q, discount 0)."""
  num_actions = len(prior_logits)
  return search.Tree(
      node_visits=jnp.array([1 + sum(visits)], jnp.int32),
      raw_values=jnp.array([raw_value], jnp.float32),
      node_values=jnp.array([raw_value], jnp.float32),
      parents=jnp.array([-1], jnp.int32),
      action_from_parent=jnp.array([-1], jnp.int32),
      children_index=jnp.full([1, num_actions], -1, jnp.int32),
      children_prior_logits=jnp.array([prior_logits], jnp.float32),
      children_visits=jnp.array([visits], jnp.int32),
      children_rewards=jnp.array([qvalues], jnp.float32),
      children_discounts=jnp.zeros([1, num_actions], jnp.float32),
      children_values=jnp.zeros([1, num_actions], jnp.float32),
      embeddings=jnp.zeros([1]),
      root_invalid_actions=jnp.zeros([num_actions]),
      extra_data=None)


# pi = [0.5, 0.25, 0.25], N = [2, 0, 1], Q = [1.0, (unvisited), 0.4], v_hat = 0.1.
HAND_TREE = dict(prior_logits=np.log([2.0, 1.0, 1.0]), visits=[2, 0, 1], qvalues=[1.0, -7.0, 0.4],
                 raw_value=0.1)


def test_mixed_value_by_hand():
  # v_mix = (0.1 + 3 * (0.5 * 1.0 + 0.25 * 0.4) / (0.5 + 0.25)) / (1 + 3) = (0.1 + 2.4) / 4
  v_mix = qtransforms.compute_mixed_value(
      jnp.float32(0.1), jnp.array([1.0, -7.0, 0.4]), jnp.array([2, 0, 1]),
      jax.nn.softmax(jnp.log(jnp.array([2.0, 1.0, 1.0]))))
  np.testing.assert_allclose(v_mix, 0.625, rtol=1e-6)


def test_completed_q_and_sigma_by_hand():
  tree = _single_node_tree(**HAND_TREE)
  # completedQ = [1.0, v_mix = 0.625, 0.4]; rescaled over [0.4, 1.0] -> [1, 0.375, 0];
  # sigma = (c_visit + max N) * c_scale = (50 + 2) * 0.1 = 5.2.
  np.testing.assert_allclose(search.qtransform_completed_by_mix_value(tree, 0),
                             [5.2, 5.2 * 0.375, 0.0], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(
      search.qtransform_completed_by_mix_value(tree, 0, rescale_values=False),
      [5.2 * 1.0, 5.2 * 0.625, 5.2 * 0.4], rtol=1e-5)
  np.testing.assert_allclose(
      search.qtransform_completed_by_mix_value(tree, 0, rescale_values=False, use_mixed_value=False),
      [5.2 * 1.0, 5.2 * 0.1, 5.2 * 0.4], rtol=1e-5)


def test_parent_and_siblings_normalisation_by_hand():
  tree = _single_node_tree(**HAND_TREE)
  # Bounds over v(s) = 0.1 and the visited Q {1.0, 0.4}: [0.1, 1.0]; unvisited -> 0.
  np.testing.assert_allclose(search.qtransform_by_parent_and_siblings(tree, 0),
                             [1.0, 0.0, 0.3 / 0.9], rtol=1e-5)


def test_interior_rule_tracks_the_target_frequencies():
  """Repeating argmax(pi(a) - N(a) / (1 + sum N)) makes N / n approach pi (Section 5)."""
  probs = jnp.array([0.5, 0.3, 0.15, 0.05])

  def visit_once(visits, _):
    action = jnp.argmax(action_selection.visit_deficit(probs, visits))
    return visits.at[action].add(1), None

  visits, _ = jax.lax.scan(visit_once, jnp.zeros(4, jnp.int32), None, length=100)
  np.testing.assert_allclose(visits / 100, probs, atol=0.02)


@pytest.mark.parametrize("values", [
    [0.0, 3.0, -1.0, 3.0],  # ties: the first maximum
    [-np.inf] * 4,  # every action masked: action 0
    [1.0, np.nan, 5.0, np.nan],  # NaN wins, the first one
    [np.inf, 2.0, np.inf, -np.inf],
])
def test_first_argmax_is_jnp_argmax(values):
  values = jnp.array(values, jnp.float32)
  assert action_selection.first_argmax(values) == jnp.argmax(values)
  batch = jnp.stack([values, values[::-1]])
  np.testing.assert_array_equal(action_selection.first_argmax(batch), jnp.argmax(batch, axis=-1))


# ---------------------------------------------------------------- whole policy

BATCH, NUM_ACTIONS, NUM_SIMULATIONS, NUM_CONSIDERED = 6, 12, 10, 4


def _recurrent_fn(params, rng_key, action, embedding):
  del params
  logits = jax.random.normal(rng_key, [action.shape[0], NUM_ACTIONS])
  reward = jnp.sin(action.astype(jnp.float32) + embedding)
  return search.RecurrentFnOutput(reward=reward, discount=jnp.full_like(reward, 0.9),
                                  prior_logits=logits, value=jnp.cos(embedding)), embedding + 1.0


def _invalid_actions():
  random = jax.random.bernoulli(jax.random.PRNGKey(5), 0.4, [BATCH, NUM_ACTIONS])
  rows = [jnp.zeros(NUM_ACTIONS, bool), random[1], jnp.ones(NUM_ACTIONS, bool).at[7].set(False),
          jnp.ones(NUM_ACTIONS, bool), random[4], random[5]]
  return jnp.stack(rows)


@pytest.fixture(scope="module")
def gumbel_output():
  root = search.RootFnOutput(
      prior_logits=jax.random.normal(jax.random.PRNGKey(1), [BATCH, NUM_ACTIONS]),
      value=jnp.zeros([BATCH]), embedding=jnp.arange(BATCH, dtype=jnp.float32))
  policy = jax.jit(lambda key: search.gumbel_muzero_policy(
      None, key, root, _recurrent_fn, NUM_SIMULATIONS, invalid_actions=_invalid_actions(),
      max_num_considered_actions=NUM_CONSIDERED))
  return root, policy(jax.random.PRNGKey(0))


def test_improved_policy_puts_no_mass_on_invalid_actions(gumbel_output):
  _, output = gumbel_output
  invalid = np.asarray(_invalid_actions())
  weights = np.asarray(output.action_weights)
  has_valid = ~invalid.all(axis=-1)
  assert weights[has_valid][invalid[has_valid]].max() < 1e-30
  np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-6)
  chosen = np.asarray(output.action)
  assert not invalid[has_valid, chosen[has_valid]].any()
  assert chosen[2] == 7  # the only valid action
  root_visits = np.asarray(output.search_tree.children_visits[:, 0])
  assert not (root_visits[has_valid] * invalid[has_valid]).any()


def test_all_invalid_root_gives_no_nan(gumbel_output):
  _, output = gumbel_output
  for leaf in jax.tree_util.tree_leaves(output):
    if jnp.issubdtype(leaf.dtype, jnp.floating):
      assert np.isfinite(np.asarray(leaf)[3]).all()
  np.testing.assert_allclose(output.action_weights[3], np.full(NUM_ACTIONS, 1 / NUM_ACTIONS), rtol=1e-6)


def test_first_simulations_visit_the_gumbel_top_m(gumbel_output):
  """The root's considered actions are the m largest g(a) + logits(a) among valid actions."""
  root, output = gumbel_output
  invalid = np.asarray(_invalid_actions())
  gumbel = np.asarray(output.search_tree.extra_data.root_gumbel)
  scores = np.where(invalid, -np.inf, gumbel + np.asarray(root.prior_logits))
  root_visits = np.asarray(output.search_tree.children_visits[:, 0])
  for row in (0, 1, 4, 5):
    num_considered = min(NUM_CONSIDERED, int((~invalid[row]).sum()))
    top_m = set(np.argsort(-scores[row])[:num_considered].tolist())
    assert set(np.flatnonzero(root_visits[row]).tolist()) == top_m


def test_tree_and_summary_shapes(gumbel_output):
  _, output = gumbel_output
  tree = output.search_tree
  num_nodes = NUM_SIMULATIONS + 1
  assert search.infer_batch_size(tree) == BATCH
  assert tree.num_actions == NUM_ACTIONS and tree.num_simulations == NUM_SIMULATIONS
  for name in ("node_visits", "raw_values", "node_values", "parents", "action_from_parent"):
    assert getattr(tree, name).shape == (BATCH, num_nodes), name
  for name in ("children_index", "children_prior_logits", "children_visits", "children_rewards",
               "children_discounts", "children_values"):
    assert getattr(tree, name).shape == (BATCH, num_nodes, NUM_ACTIONS), name
  assert tree.embeddings.shape == (BATCH, num_nodes)
  summary = tree.summary()
  for name in ("visit_counts", "visit_probs", "qvalues"):
    assert getattr(summary, name).shape == (BATCH, NUM_ACTIONS), name
  assert summary.value.shape == (BATCH,)
  np.testing.assert_array_equal(summary.visit_counts.sum(-1), NUM_SIMULATIONS)
  np.testing.assert_array_equal(tree.node_visits[:, 0], NUM_SIMULATIONS + 1)


def test_bad_inputs_raise_value_error():
  root = search.RootFnOutput(prior_logits=jnp.zeros([2, 3]), value=jnp.zeros([2]), embedding=jnp.zeros([2]))
  with pytest.raises(ValueError, match="num_simulations"):
    search.gumbel_muzero_policy(None, jax.random.PRNGKey(0), root, _recurrent_fn, 0)
  with pytest.raises(ValueError, match="invalid_actions"):
    search.muzero_policy(None, jax.random.PRNGKey(0), root, _recurrent_fn, 2,
                         invalid_actions=jnp.zeros([2, 4], bool))
  with pytest.raises(ValueError, match="root.value"):
    search.gumbel_muzero_policy(None, jax.random.PRNGKey(0), root.replace(value=jnp.zeros([3])),
                                _recurrent_fn, 2)
  with pytest.raises(ValueError, match="prior_logits"):
    search.gumbel_muzero_policy(None, jax.random.PRNGKey(0), root, _recurrent_fn, 2)  # 3 vs 12 actions


@pytest.mark.slow
def test_node_view_is_a_row_of_the_full_tree():
  """The one-node view that action selection sees equals that node's row of `to_tree`."""
  root = search.RootFnOutput(
      prior_logits=jax.random.normal(jax.random.PRNGKey(2), [BATCH, NUM_ACTIONS]),
      value=jnp.ones([BATCH]), embedding=jnp.arange(BATCH, dtype=jnp.float32))
  compact = compact_search(
      None, jax.random.PRNGKey(0), root=root, recurrent_fn=_recurrent_fn,
      root_action_selection_fn=lambda key, tree, node: action_selection.muzero_action_selection(
          key, tree, node, 0),
      interior_action_selection_fn=action_selection.muzero_action_selection,
      num_simulations=NUM_SIMULATIONS, max_depth=3, invalid_actions=_invalid_actions())
  full = compact_tree.to_tree(compact)
  views = jax.vmap(jax.vmap(compact_tree.node_view, in_axes=(None, 0)))(
      compact, jnp.broadcast_to(jnp.arange(NUM_SIMULATIONS + 1), (BATCH, NUM_SIMULATIONS + 1)))
  for name in ("node_visits", "raw_values", "node_values", "parents", "action_from_parent",
               "children_index", "children_prior_logits", "children_visits", "children_rewards",
               "children_discounts", "children_values", "embeddings"):
    np.testing.assert_array_equal(getattr(views, name)[:, :, 0], getattr(full, name), err_msg=name)
  np.testing.assert_array_equal(compact_tree.root_view(compact).children_visits[:, 0],
                                full.children_visits[:, 0])
  # Edge visits equal the child's node visits and every simulation went through the root.
  np.testing.assert_array_equal(full.children_visits.sum(-1)[:, 0], NUM_SIMULATIONS)
