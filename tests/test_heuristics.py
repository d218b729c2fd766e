"""The heuristic baselines: valid choices, their stated rules, and `--mode=baselines` end to end."""
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purepi.evaluation import baselines
from purepi.evaluation.protocol import EpisodeOutcome, evaluate_policy, summarize
from purepi.policies import heuristics
from purepi.policies.rollout import rollout
from purepi.env import BinPack, Item, Observation, RandomGenerator, Space
from purepi.env.timestep import restart

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _timestep(ems, ems_mask, items, items_mask, items_placed):
  """A batched TimeStep around an observation given as `[B, E, 6]` EMSs and `[B, I, 3]` items."""
  ems, items = np.asarray(ems, np.float32), np.asarray(items, np.float32)
  ems_mask, items_mask = np.asarray(ems_mask, bool), np.asarray(items_mask, bool)
  items_placed = np.asarray(items_placed, bool)
  ems_lengths = ems[..., 1::2] - ems[..., 0::2]  # [B, E, 3]
  fits = np.all(items[:, None, :, :] <= ems_lengths[:, :, None, :], axis=-1)  # [B, E, I]
  action_mask = fits & ems_mask[:, :, None] & (items_mask & ~items_placed)[:, None, :]
  observation = Observation(
      ems=Space(**{name: jnp.asarray(ems[..., i]) for i, name in enumerate(("x1", "x2", "y1", "y2", "z1", "z2"))}),
      ems_mask=jnp.asarray(ems_mask),
      items=Item(*(jnp.asarray(items[..., i]) for i in range(3))),
      items_mask=jnp.asarray(items_mask), items_placed=jnp.asarray(items_placed),
      action_mask=jnp.asarray(action_mask))
  return restart(observation, {})


def _random_timesteps(seed, batch_size=64, num_ems=6, num_items=5):
  """Random observations: EMSs inside the unit cube, items of random sizes, random masks."""
  rng = np.random.default_rng(seed)
  # Coordinates on a coarse grid make ties (equal depths, heights, volumes) frequent.
  lower = rng.integers(0, 4, size=(batch_size, num_ems, 3)) / 4
  upper = np.minimum(lower + rng.integers(1, 5, size=lower.shape) / 4, 1.0)
  ems = np.stack([lower, upper], axis=-1).reshape(batch_size, num_ems, 6)  # x1, x2, y1, y2, z1, z2
  items = rng.integers(1, 6, size=(batch_size, num_items, 3)) / 8
  return _timestep(ems, rng.random((batch_size, num_ems)) < 0.8, items,
                   rng.random((batch_size, num_items)) < 0.9, rng.random((batch_size, num_items)) < 0.3)


def test_tightest_fit_on_a_hand_built_observation():
  # EMS volumes 1, 0.25, 0.1; item volumes 0.075, 0.064, 0.729.
  ems = [[[0, 1, 0, 1, 0, 1], [0, .5, 0, .5, 0, 1], [.5, 1, .5, 1, 0, .4]]]
  items = [[[.5, .5, .3], [.4, .4, .4], [.9, .9, .9]]]
  timestep = _timestep(ems, [[True] * 3], items, [[True] * 3], [[False] * 3])
  action, _ = heuristics.tightest_fit(None, None, timestep)
  # Item 0 fills 75% of EMS 2, more than the large item fills the whole container (72.9%).
  np.testing.assert_array_equal(action, [[2, 0]])
  # Once item 0 is placed, the large item in the container (72.9%) beats item 1 in EMS 2 (64%).
  timestep = _timestep(ems, [[True] * 3], items, [[True] * 3], [[True, False, False]])
  np.testing.assert_array_equal(heuristics.tightest_fit(None, None, timestep)[0], [[0, 2]])


def test_largest_item_deepest_bottom_left_on_a_hand_built_observation():
  ems = [[[0, 1, 0, 1, .5, 1],        # at the back, high up, left
          [.5, 1, 0, 1, 0, 1],        # further forward, on the floor, left
          [0, 1, .5, 1, .25, 1],      # at the back, lower, right
          [0, .2, 0, .2, 0, .2]]]     # at the origin, too small for item 1
  items = [[[.2, .2, .2], [.5, .5, .5], [.9, .9, .9]]]  # item 2 fits nowhere
  timestep = _timestep(ems, [[True] * 4], items, [[True] * 3], [[False] * 3])
  action, _ = heuristics.largest_item_deepest_bottom_left(None, None, timestep)
  # Item 1 is the largest that fits. Deepest first (x1 = 0: EMSs 0 and 2), then the
  # lower of those (EMS 2); bottom-first would pick EMS 1, left-before-bottom EMS 0.
  np.testing.assert_array_equal(action, [[2, 1]])


@pytest.fixture(scope="module")
def random_timesteps():
  return _random_timesteps(seed=0)


def test_heuristics_choose_valid_actions(random_timesteps):
  action_mask = np.asarray(random_timesteps.observation.action_mask)
  has_valid = action_mask.any(axis=(1, 2))
  assert has_valid.sum() > 32
  for name, policy_fn in heuristics.HEURISTICS.items():
    action, extras = jax.jit(policy_fn)(jax.random.PRNGKey(1), None, random_timesteps)
    assert action.shape == (len(action_mask), 2) and action.dtype == jnp.int32 and extras == {}
    chosen_valid = action_mask[np.arange(len(action_mask)), action[:, 0], action[:, 1]]
    assert np.all(chosen_valid[has_valid]), name


def test_heuristics_follow_their_definitions_on_random_observations(random_timesteps):
  observation = jax.tree.map(np.asarray, random_timesteps.observation)
  action_mask = observation.action_mask
  ems = np.stack([observation.ems.x1, observation.ems.x2, observation.ems.y1, observation.ems.y2,
                  observation.ems.z1, observation.ems.z2], axis=-1).astype(np.float64)
  ems_volumes = np.prod(ems[..., 1::2] - ems[..., 0::2], axis=-1)
  item_volumes = np.prod(np.stack(observation.items, axis=-1).astype(np.float64), axis=-1)
  tightest = np.asarray(heuristics.tightest_fit(None, None, random_timesteps)[0])
  largest = np.asarray(heuristics.largest_item_deepest_bottom_left(None, None, random_timesteps)[0])
  for b in np.flatnonzero(action_mask.any(axis=(1, 2))):
    valid_e, valid_i = np.nonzero(action_mask[b])
    fill_ratios = item_volumes[b, valid_i] / ems_volumes[b, valid_e]
    ems_id, item_id = tightest[b]
    np.testing.assert_allclose(item_volumes[b, item_id] / ems_volumes[b, ems_id], fill_ratios.max(), rtol=1e-5)

    ems_id, item_id = largest[b]
    assert np.isclose(item_volumes[b, item_id], item_volumes[b, valid_i].max(), rtol=1e-5)
    candidates = np.flatnonzero(action_mask[b, :, item_id])
    deepest_bottom_left = min(candidates, key=lambda e: (ems[b, e, 0], ems[b, e, 4], ems[b, e, 2], e))
    assert ems_id == deepest_bottom_left


def test_random_valid_is_uniform_over_valid_actions():
  ems = [[[0, 1, 0, 1, 0, 1], [0, .1, 0, .1, 0, .1]]]
  items = [[[.5, .5, .5], [.05, .05, .05], [.9, .9, .9]]]
  timestep = _timestep(ems, [[True] * 2], items, [[True] * 3], [[False, False, True]])
  valid = np.asarray(timestep.observation.action_mask[0])  # (0,0), (0,1), (1,1)
  num_draws = 3000
  actions = jax.jit(jax.vmap(lambda key: heuristics.random_valid(key, None, timestep)[0][0]))(
      jax.random.split(jax.random.PRNGKey(0), num_draws))
  counts = np.zeros_like(valid, dtype=int)
  np.add.at(counts, (actions[:, 0], actions[:, 1]), 1)
  assert counts[~valid].sum() == 0
  # Each of the 3 valid actions has probability 1/3: 1000 expected, std ~26.
  assert np.all(np.abs(counts[valid] - num_draws / 3) < 130), counts


@pytest.fixture(scope="module")
def small_env():
  return BinPack(generator=RandomGenerator(max_num_items=8, max_num_ems=16), obs_num_ems=8)


@pytest.mark.slow
def test_heuristic_episodes_on_the_env_take_no_invalid_action(small_env):
  states, timesteps = jax.vmap(small_env.reset)(jax.random.split(jax.random.PRNGKey(3), 16))

  @jax.jit
  def play_all(key):
    return {name: rollout(small_env, policy_fn, key, states, timesteps, num_steps=8)[1]
            for name, policy_fn in heuristics.HEURISTICS.items()}

  for name, final_timestep in play_all(jax.random.PRNGKey(4)).items():
    assert np.all(final_timestep.last()), name
    assert not np.any(final_timestep.extras["invalid_action"]), name


@pytest.mark.slow
def test_baseline_table_summarizes_every_heuristic(small_env):
  instance_keys = jax.random.split(jax.random.PRNGKey(3), 16)
  table = baselines.baseline_table(small_env, instance_keys, jax.random.PRNGKey(4))
  assert list(table) == list(heuristics.HEURISTICS)
  for summary in table.values():
    assert set(summary) == {"mean", "ci95", "perfect_fraction", "items_placed", "overflowed_episodes"}
    # Utilization is float32: a perfect packing may read a few ulps above 1.
    assert 0.0 < summary["mean"] <= 1.0 + 1e-6 and summary["ci95"] >= 0.0
    assert 0.0 <= summary["perfect_fraction"] <= 1.0
    assert 0.0 < summary["items_placed"] <= small_env.generator.max_num_items


def test_summarize_counts_perfect_packings_by_items_placed():
  outcome = EpisodeOutcome(utilization=np.array([1.0000001, 0.9999995, 0.99, 0.5]),
                           items_placed=np.array([7, 5, 6, 2]), num_items=np.array([7, 6, 6, 4]),
                           ems_overflowed=np.array([False, True, False, True]))
  summary = summarize(outcome)
  assert summary["perfect_fraction"] == 0.5  # episodes 0 and 2 placed every item
  assert summary["items_placed"] == 5.0 and summary["overflowed_episodes"] == 2
  assert np.isclose(summary["mean"], np.mean(outcome.utilization))


@pytest.mark.slow
def test_evaluate_policy_counts_the_items_of_each_episode(small_env):
  instance_keys = jax.random.split(jax.random.PRNGKey(5), 8)
  outcome = jax.jit(lambda keys: evaluate_policy(small_env, heuristics.tightest_fit, keys,
                                                 jax.random.PRNGKey(0)))(instance_keys)
  states, _ = jax.vmap(small_env.reset)(instance_keys)
  np.testing.assert_array_equal(outcome.num_items, np.sum(states.items_mask, axis=-1))
  assert np.all((outcome.items_placed >= 1) & (outcome.items_placed <= outcome.num_items))
  # Every placed item adds its volume: all items placed <=> the container is full (cut instances).
  perfect = np.asarray(outcome.items_placed == outcome.num_items)
  np.testing.assert_array_equal(perfect, np.asarray(outcome.utilization) > 1 - 1e-5)


@pytest.mark.slow
def test_baselines_mode_runs_end_to_end():
  result = subprocess.run(
      [sys.executable, "run.py", "--mode=baselines", "--eval_num_episodes=8", "--max_num_items=8",
       "--max_num_ems=16", "--obs_num_ems=8"],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr
  rows = [line.split()[0] for line in result.stdout.splitlines()]
  assert {"random", "largest_item_deepest_bottom_left", "tightest_fit"} <= set(rows)


@pytest.mark.parametrize("rotations", ["upright", "all"])
@pytest.mark.slow
def test_with_rotations_heuristics_choose_valid_turns_by_their_rules(rotations):
  """Episodes with rotations: every heuristic's action is valid; tightest fit's (EMS, item) has the
  largest fill ratio among the pairs that fit some way; both deterministic heuristics turn the item
  to the flattest orientation that fits there, then the longest along x."""
  from purepi.env import RandomBoxGenerator, orientations
  env = BinPack(RandomBoxGenerator(max_num_items=8, max_num_ems=20), obs_num_ems=20, rotations=rotations)
  permutations = np.array(orientations(rotations))
  for name, heuristic in heuristics.HEURISTICS.items():
    def recording(key, state, timestep):
      action, extras = heuristic(key, state, timestep)
      return action, {"observation": timestep.observation}

    state, timestep = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(1), 8))
    _, _, transitions = jax.jit(lambda s, t: rollout(env, recording, jax.random.PRNGKey(2), s, t, 8))(state, timestep)
    actions, valid = np.asarray(transitions.action), np.asarray(transitions.valid)
    observation = jax.tree.map(np.asarray, transitions.policy_extras["observation"])
    mask = observation.action_mask  # [T, B, E, I, R]
    for t, b in zip(*np.nonzero(valid)):
      ems_id, item_id, orientation = actions[t, b]
      assert mask[t, b, ems_id, item_id, orientation], f"{name} chose an invalid action"
      if name == "random":
        continue
      lengths = np.stack([observation.items.x_len[t, b], observation.items.y_len[t, b],
                          observation.items.z_len[t, b]], -1)[item_id][permutations]  # [R, 3]
      fits = mask[t, b, ems_id, item_id]
      flattest = np.lexsort((-lengths[:, 0], lengths[:, 2], ~fits))[0]  # last key most significant
      assert orientation == flattest
      if name == "tightest_fit":
        ems = observation.ems
        ems_volume = np.stack([ems.x2 - ems.x1, ems.y2 - ems.y1, ems.z2 - ems.z1], -1)[t, b].prod(-1)
        item_volume = np.stack([observation.items.x_len, observation.items.y_len,
                                observation.items.z_len], -1)[t, b].prod(-1)
        fill = np.where(mask[t, b].any(-1), item_volume[None] / np.where(ems_volume > 0, ems_volume, 1)[:, None], -1)
        np.testing.assert_allclose(fill[ems_id, item_id], fill.max(), rtol=1e-6)
