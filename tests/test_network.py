"""The policy-value network: shapes, masking, value range, and no NaN anywhere."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purepi.env.make import make_env
from purepi.evaluation.protocol import first_state_values
from purepi.policies.rollout import rollout, unflatten_action
from purepi.config import Config
from purepi.env import EMS, Item, Observation
from purepi.networks import make_network
from purepi.networks.transformer import pool_tokens, pair_features

TINY = Config(max_num_items=5, obs_num_ems=6, max_num_ems=6, num_layers=1, num_heads=2,
              key_size=4, mlp_units=(8,))
BATCH = 8


def _random_valid_policy(key, state, timestep):
  """Uniform over valid actions (first action when none is valid)."""
  mask = timestep.observation.action_mask.reshape(BATCH, -1)
  flat = jax.random.categorical(key, jnp.where(mask, 0.0, -1e9))
  return unflatten_action(flat, timestep.observation.action_mask.shape[1:]), {}


# (pairwise_policy_head, rotations): the blog's head, the pairwise head, and the pairwise head with
# one key per orientation over the (EMS, item, orientation) grid.
VARIANTS = {"bilinear": (False, "none"), "pairwise": (True, "none"), "pairwise_rotations": (True, "all")}


@pytest.fixture(scope="module", params=list(VARIANTS))
def setup(request):
  pairwise_policy_head, rotations = VARIANTS[request.param]
  env = make_env(dataclasses.replace(TINY, rotations=rotations))
  network = make_network(dataclasses.replace(TINY, pairwise_policy_head=pairwise_policy_head))

  @jax.jit
  def episode_observations():
    """Observations along whole episodes: fresh, mid-episode and terminal ones."""
    state, timestep = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), BATCH))
    _, _, transitions = rollout(env, _random_valid_policy, jax.random.PRNGKey(1), state, timestep,
                                TINY.max_num_items)
    return jax.tree.map(lambda leaf: leaf.reshape((-1,) + leaf.shape[2:]), transitions.observation)

  observations = episode_observations()
  params = jax.jit(network.init)(jax.random.PRNGKey(2), observations)
  apply = jax.jit(network.apply)
  return network, params, apply, observations


@pytest.mark.slow
def test_output_shapes(setup):
  _, params, apply, observations = setup
  logits, value = apply(params, observations)
  num_observations = BATCH * TINY.max_num_items
  assert logits.shape == (num_observations, np.prod(observations.action_mask.shape[1:]))
  assert value.shape == (num_observations,)


def test_invalid_actions_sit_at_the_finite_minimum(setup):
  _, params, apply, observations = setup
  logits, _ = apply(params, observations)
  valid = np.asarray(observations.action_mask).reshape(logits.shape)
  logits = np.asarray(logits)
  assert np.all(np.isfinite(logits))
  assert np.all(logits[~valid] == np.finfo(np.float32).min)
  assert np.all(logits[valid] > np.finfo(np.float32).min / 2)
  assert valid.any() and (~valid).any()


def test_value_is_a_utilization(setup):
  _, params, apply, observations = setup
  _, value = apply(params, observations)
  assert np.all((np.asarray(value) >= 0) & (np.asarray(value) <= 1))


def test_no_nan_when_every_token_and_action_is_masked(setup):
  _, params, apply, observations = setup
  empty = observations._replace(
      ems_mask=jnp.zeros_like(observations.ems_mask),
      items_mask=jnp.zeros_like(observations.items_mask),
      action_mask=jnp.zeros_like(observations.action_mask))
  logits, value = apply(params, empty)
  assert np.all(np.asarray(logits) == np.finfo(np.float32).min)
  assert np.all(np.isfinite(np.asarray(value)))


def test_outputs_ignore_masked_tokens(setup):
  """Absent EMSs and unavailable items are padding: their features must not matter."""
  _, params, apply, observations = setup
  absent_ems = ~observations.ems_mask
  unavailable = ~(observations.items_mask & ~observations.items_placed)
  scramble = lambda leaf, masked: jnp.where(masked, leaf + 7.5, leaf)
  scrambled = observations._replace(
      ems=jax.tree.map(lambda leaf: scramble(leaf, absent_ems), observations.ems),
      items=jax.tree.map(lambda leaf: scramble(leaf, unavailable), observations.items))
  logits, value = apply(params, observations)
  scrambled_logits, scrambled_value = apply(params, scrambled)
  # Masking shifts the logits by their maximum, so compare the policies.
  np.testing.assert_allclose(jax.nn.softmax(scrambled_logits), jax.nn.softmax(logits), atol=1e-6)
  np.testing.assert_allclose(scrambled_value, value, rtol=1e-5, atol=1e-6)
  assert absent_ems.any() and unavailable.any()


def test_one_observation_without_batch_dimension(setup):
  _, params, apply, observations = setup
  single = jax.tree.map(lambda leaf: leaf[3], observations)
  logits, value = apply(params, single)
  batched_logits, batched_value = apply(params, observations)
  np.testing.assert_allclose(logits, batched_logits[3], rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(value, batched_value[3], rtol=1e-5)


def test_pair_features_by_hand():
  # One EMS 0.5 x 1 x 0.25 at (x1, z1) = (0.5, 0.25); a second, absent. Two items.
  ems = EMS(x1=jnp.array([0.5, 0.0]), x2=jnp.array([1.0, 0.0]), y1=jnp.array([0.0, 0.0]),
            y2=jnp.array([1.0, 0.0]), z1=jnp.array([0.25, 0.0]), z2=jnp.array([0.5, 0.0]))
  items = Item(x_len=jnp.array([0.25, 0.5]), y_len=jnp.array([0.5, 1.0]), z_len=jnp.array([0.25, 0.25]))
  observation = Observation(ems=ems, ems_mask=jnp.array([True, False]), items=items,
                            items_mask=jnp.array([True, True]), items_placed=jnp.array([False, False]),
                            action_mask=jnp.array([[True, True], [False, False]]))
  features = np.asarray(pair_features(observation))
  assert features.shape == (2, 2, 6)
  np.testing.assert_allclose(features[0, 0], [0.5, 0.5, 1.0, 0.25, 0.25, 0.5])
  np.testing.assert_allclose(features[0, 1], [1.0, 1.0, 1.0, 1.0, 0.25, 0.5])  # a perfect fit
  assert np.all(features[1] == 0.0)  # not valid actions


def test_pair_features_of_each_orientation_are_those_of_the_item_so_turned():
  """With rotations, the features of (e, i, r) equal those of (e, i) for an observation whose
  items are listed already turned to orientation r."""
  from purepi.env import orient_items, orientations
  env = make_env(dataclasses.replace(TINY, rotations="all"))
  _, timestep = env.reset(jax.random.PRNGKey(5))
  rotated = timestep.observation
  features = np.asarray(pair_features(rotated))
  assert features.shape == env.action_grid_shape + (6,)
  turned = orient_items(rotated.items, orientations("all"))
  for orientation in range(features.shape[2]):
    as_listed = rotated._replace(items=Item(*(length[:, orientation] for length in turned)),
                                 action_mask=rotated.action_mask[..., orientation])
    np.testing.assert_allclose(features[:, :, orientation], pair_features(as_listed), rtol=1e-6)


def test_mean_pooling_is_the_mean_of_the_present_tokens():
  tokens = jnp.arange(12.0).reshape(1, 3, 4)
  present = jnp.array([[True, False, True]])
  np.testing.assert_allclose(pool_tokens(tokens, present, "mean"), [[4.0, 5.0, 6.0, 7.0]])
  np.testing.assert_allclose(pool_tokens(tokens, present, "sum"), [[8.0, 10.0, 12.0, 14.0]])
  np.testing.assert_allclose(pool_tokens(tokens, jnp.zeros_like(present), "mean"), [[0.0] * 4])


@pytest.mark.slow
def test_mean_pooling_keeps_the_initial_value_out_of_saturation():
  """At BinPack-v2's size (40 EMSs, 20 items) a sum-pooled value head can start with its sigmoid
  at 0 or 1 for every state (almost no gradient); a mean-pooled one starts in range at every
  width and initialisation tried here."""
  env = make_env(Config())
  _, timestep = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), 8))
  saturated = {}
  for pooling in ("sum", "mean"):
    for key_size in (8, 16):  # model sizes 32 (distill.flags) and 64 (Config's default)
      network = make_network(dataclasses.replace(
          Config(), key_size=key_size, mlp_units=(2 * 4 * key_size,) * 2, value_pooling=pooling))
      apply = jax.jit(network.apply)  # compiled once per network, not once per initialisation
      for seed in range(3):
        params = jax.jit(network.init)(jax.random.PRNGKey(seed), timestep.observation)
        _, value = apply(params, timestep.observation)
        saturated[pooling, key_size, seed] = bool(np.any((value < 0.01) | (value > 0.99)))
  assert not any(flag for (pooling, _, _), flag in saturated.items() if pooling == "mean"), saturated
  assert any(flag for (pooling, _, _), flag in saturated.items() if pooling == "sum"), saturated


@pytest.mark.slow
def test_first_state_values_are_the_values_at_reset_in_any_batch_size():
  env, network = make_env(TINY), make_network(TINY)
  keys = jax.random.split(jax.random.PRNGKey(5), 10)
  _, timestep = jax.jit(jax.vmap(env.reset))(keys)
  params = jax.jit(network.init)(jax.random.PRNGKey(2), timestep.observation)
  expected = jax.jit(network.apply)(params, timestep.observation)[1]
  values = jax.jit(lambda params, keys: first_state_values(env, network, params, keys, batch_size=4))
  np.testing.assert_allclose(values(params, keys), expected, rtol=1e-5)
