"""Stochastic MuZero in purepi alone: the tree alternates node kinds, rewards sit on chance
edges, chance visits follow the outcome probabilities, the weights respect the mask."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import purepi.search as search

NUM_ACTIONS, NUM_OUTCOMES, BATCH_SIZE = 3, 2, 2
OUTCOME_PROBS = jnp.array([0.75, 0.25])


def decision_recurrent_fn(params, rng_key, action, state):
  del params, rng_key
  output = search.DecisionRecurrentFnOutput(
      chance_logits=jnp.broadcast_to(jnp.log(OUTCOME_PROBS), (action.shape[0], NUM_OUTCOMES)),
      afterstate_value=jnp.zeros(action.shape[0]))
  return output, state * 10 + action


def chance_recurrent_fn(params, rng_key, outcome, afterstate):
  del params, rng_key
  output = search.ChanceRecurrentFnOutput(
      action_logits=jnp.zeros((outcome.shape[0], NUM_ACTIONS)),
      value=jnp.zeros(outcome.shape[0]),
      reward=1.0 + outcome.astype(jnp.float32),  # 1 for outcome 0, 2 for outcome 1
      discount=jnp.ones(outcome.shape[0]))
  return output, afterstate * 10 + outcome


@pytest.fixture(scope="module")
def output():
  root = search.RootFnOutput(prior_logits=jnp.zeros((BATCH_SIZE, NUM_ACTIONS)),
                             value=jnp.zeros(BATCH_SIZE), embedding=jnp.zeros(BATCH_SIZE, jnp.int32))
  invalid_actions = jnp.array([[False, False, False], [False, True, False]])
  policy = jax.jit(lambda key: search.stochastic_muzero_policy(
      None, key, root, decision_recurrent_fn, chance_recurrent_fn, num_simulations=40,
      invalid_actions=invalid_actions))
  return policy(jax.random.PRNGKey(0)), invalid_actions


@pytest.mark.slow
def test_decision_and_chance_nodes_alternate(output):
  tree = output[0].search_tree
  is_decision = np.asarray(tree.embeddings.is_decision_node)
  parents = np.asarray(tree.parents)
  used = np.asarray(tree.node_visits) > 0
  assert is_decision[:, 0].all()
  for b, node in zip(*np.nonzero(used & (parents >= 0))):
    assert is_decision[b, node] != is_decision[b, parents[b, node]]
  assert (used & ~is_decision).any(), "no chance node was expanded"


def test_rewards_come_on_chance_edges_only(output):
  """Edges from decision nodes carry reward 0; the root's Q still sees the chance rewards
  (1 or 2 per transition) through the afterstates' backed-up values (an afterstate's own
  value is 0, so after k visits its value is at least (k - 1) / k)."""
  tree = output[0].search_tree
  is_decision = np.asarray(tree.embeddings.is_decision_node)
  visited_edges = np.asarray(tree.children_visits) > 0  # [B, N, A], the decision block
  rewards = np.asarray(tree.children_rewards)
  assert np.all(rewards[visited_edges & is_decision[..., None]] == 0)
  root_q = np.asarray(tree.qvalues(jnp.zeros(BATCH_SIZE, jnp.int32)))
  most_visited = np.argmax(np.asarray(tree.children_visits[:, 0]), axis=-1)
  assert np.all(root_q[np.arange(BATCH_SIZE), most_visited] > 0.5)


def test_chance_visits_follow_the_outcome_probabilities(output):
  """Root -> most visited action -> its afterstate: the outcomes' visits are about 3 : 1."""
  tree = output[0].search_tree
  root_action = int(jnp.argmax(tree.children_visits[0, 0]))
  afterstate = int(tree.children_index[0, 0, root_action])
  children = np.nonzero(np.asarray(tree.parents[0]) == afterstate)[0]
  visits = {int(tree.action_from_parent[0, c]) - NUM_ACTIONS: int(tree.node_visits[0, c]) for c in children}
  assert visits[0] > visits[1] >= 1
  assert visits[0] == pytest.approx(3 * visits[1], abs=2)


def test_action_weights_sum_to_one_and_skip_invalid_actions(output):
  policy_output, invalid_actions = output
  weights = np.asarray(policy_output.action_weights)
  np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-6)
  assert np.all(weights[np.asarray(invalid_actions)] == 0)
  assert weights.shape == (BATCH_SIZE, NUM_ACTIONS)
