"""The search glue: recurrent function at and after termination, search and greedy policies."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purepi.env.make import make_env
from purepi.policies import search_policy
from purepi.policies.rollout import unflatten_action
from purepi.config import Config
from purepi.networks import make_network

TINY = Config(max_num_items=5, obs_num_ems=6, max_num_ems=6, num_layers=1, num_heads=2,
              key_size=4, mlp_units=(8,))
BATCH = 4


@pytest.fixture(scope="module")
def setup():
  env = make_env(TINY)
  network = make_network(TINY)
  state, timestep = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), BATCH))
  params = jax.jit(network.init)(jax.random.PRNGKey(1), timestep.observation)
  return env, network, params, state, timestep


@pytest.fixture(scope="module")
def recurrent_fn(setup):
  env, network, _, _, _ = setup
  return jax.jit(search_policy.make_recurrent_fn(env, network, discount=1.0))


def _terminal_batch(env, state, timestep):
  """Episode 0 ended by an invalid action (item 0 placed twice), the others fresh."""
  first_valid = jnp.argmax(timestep.observation.action_mask[0].reshape(-1))
  action = unflatten_action(first_valid, (TINY.obs_num_ems, TINY.max_num_items))
  state0 = jax.tree.map(lambda leaf: leaf[0], state)
  state0, _ = env.step(state0, action)
  state0, timestep0 = env.step(state0, action)
  assert bool(timestep0.last())
  merge = lambda batch, single: batch.at[0].set(single)
  return (jax.tree.map(merge, state, state0),
          jax.tree.map(merge, timestep, timestep0))


def test_recurrent_fn_stops_reward_and_value_after_the_end(setup, recurrent_fn):
  _, _, params, state, timestep = setup
  valid_action = jnp.argmax(timestep.observation.action_mask.reshape(BATCH, -1), axis=-1)
  not_ended = search_policy.SearchEmbedding(state, jnp.zeros(BATCH, bool))
  output, embedding = recurrent_fn(params, jax.random.PRNGKey(0), valid_action, not_ended)
  assert np.all(np.asarray(output.reward) > 0)
  assert np.all(np.asarray(output.discount) == 1.0)
  assert not np.any(np.asarray(embedding.terminal))

  already_ended = search_policy.SearchEmbedding(state, jnp.ones(BATCH, bool))
  output, embedding = recurrent_fn(params, jax.random.PRNGKey(0), valid_action, already_ended)
  assert np.all(np.asarray(output.reward) == 0)
  assert np.all(np.asarray(output.discount) == 0)
  assert np.all(np.asarray(output.value) == 0)
  assert np.all(np.asarray(embedding.terminal))


def test_recurrent_fn_ends_on_an_invalid_action(setup, recurrent_fn):
  _, _, params, state, timestep = setup
  invalid_action = jnp.argmin(timestep.observation.action_mask.reshape(BATCH, -1), axis=-1)
  assert not np.any(np.take_along_axis(
      np.asarray(timestep.observation.action_mask).reshape(BATCH, -1),
      np.asarray(invalid_action)[:, None], axis=1))
  output, embedding = recurrent_fn(params, jax.random.PRNGKey(0), invalid_action,
                                   search_policy.SearchEmbedding(state, jnp.zeros(BATCH, bool)))
  assert np.all(np.asarray(embedding.terminal))
  assert np.all(np.asarray(output.discount) == 0) and np.all(np.asarray(output.value) == 0)


@pytest.mark.slow
def test_search_policy_picks_valid_actions_and_survives_a_terminal_root(setup):
  env, network, params, state, timestep = setup
  state, timestep = _terminal_batch(env, state, timestep)
  policy_fn = search_policy.make_search_policy(
      env, network, params, num_simulations=4, max_num_considered_actions=4)
  action, extras = jax.jit(policy_fn)(jax.random.PRNGKey(3), state, timestep)
  weights = np.asarray(extras["action_weights"])
  assert weights.shape == (BATCH, TINY.obs_num_ems * TINY.max_num_items)
  assert np.all(np.isfinite(weights))
  np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)
  mask = np.asarray(timestep.observation.action_mask)
  for b in range(1, BATCH):  # Episode 0 has ended; the others must act validly.
    assert mask[b, action[b, 0], action[b, 1]]
    assert np.all(weights[b][~mask[b].reshape(-1)] == 0)


def test_greedy_policy_takes_the_most_likely_valid_action(setup):
  env, network, params, state, timestep = setup
  action, extras = jax.jit(search_policy.make_greedy_policy(env, network, params))(
      jax.random.PRNGKey(0), state, timestep)
  logits, _ = jax.jit(network.apply)(params, timestep.observation)
  expected = unflatten_action(jnp.argmax(logits, axis=-1), (TINY.obs_num_ems, TINY.max_num_items))
  np.testing.assert_array_equal(action, expected)
  mask = np.asarray(timestep.observation.action_mask)
  assert all(mask[b, action[b, 0], action[b, 1]] for b in range(BATCH))
  assert extras == {}
