"""The replay buffer (contents, order, sampling), the visit-count target, and per-seed runs."""
import dataclasses
import json
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purepi.agents import distill
from purepi.cli import train
from purepi.config import Config
from purepi.env.make import make_env
from purepi.networks import make_network
from purepi.policies.rollout import flat_invalid_actions
from purepi.policies.search_policy import make_search_policy
from purepi.training import checkpoints, replay
from purepi.training.algorithm import train_on_batch
from tests.trainer_runs import run_and_read_metrics, without_timings

TINY = Config(max_num_items=5, obs_num_ems=6, max_num_ems=6, num_layers=1, num_heads=2,
              key_size=4, mlp_units=(8,), rollout_batch_size=4, training_batch_size=8,
              num_simulations=2, max_num_considered_actions=2, eval_num_episodes=4,
              eval_num_simulations=2, eval_interval=2, save_interval=1, num_renders=0,
              progress=False)


class Steps(NamedTuple):
  step_id: jax.Array  # [T, B] a number unique to each step
  valid: jax.Array  # [T, B]


def _iteration(first_id, num_steps=3, batch_size=2, num_valid=None):
  """One iteration's `[T, B]` steps numbered from `first_id`; the last ones invalid if `num_valid`."""
  ids = first_id + jnp.arange(num_steps * batch_size).reshape(num_steps, batch_size)
  valid = jnp.arange(num_steps * batch_size).reshape(num_steps, batch_size) < (
      num_valid if num_valid is not None else num_steps * batch_size)
  return Steps(ids, valid)


def test_empty_buffer_has_k_slots_and_no_valid_step():
  buffer = replay.empty(jax.eval_shape(lambda: _iteration(0)), num_iterations=3)
  assert buffer.step_id.shape == (3, 3, 2) and buffer.valid.dtype == jnp.bool_
  assert not np.any(buffer.valid)


def test_push_keeps_the_newest_k_iterations_oldest_first():
  buffer = replay.empty(_iteration(0), num_iterations=2)
  for first_id in (100, 200, 300):
    buffer = replay.push(buffer, _iteration(first_id))
  np.testing.assert_array_equal(buffer.step_id[0], _iteration(200).step_id)
  np.testing.assert_array_equal(buffer.step_id[1], _iteration(300).step_id)
  assert np.all(buffer.valid)
  steps = replay.as_steps(buffer)
  assert steps.step_id.shape == (6, 2)
  np.testing.assert_array_equal(steps.step_id.reshape(-1), np.arange(200, 206).tolist() + np.arange(300, 306).tolist())


def _counting_step(num_ids):
  """A train step whose 'state' counts how often each step id was in a minibatch (valid ones only)."""
  def train_step(counts, minibatch):
    counts = counts + jnp.zeros(num_ids).at[minibatch.step_id].add(minibatch.valid.astype(jnp.float32))
    return counts, {"has_data": jnp.any(minibatch.valid).astype(jnp.float32)}
  return train_step


@pytest.mark.parametrize("num_epochs", [1, 3])
def test_minibatches_draw_every_slot_without_replacement_and_never_an_invalid_step(num_epochs):
  buffer = replay.empty(_iteration(0), num_iterations=3)
  # Oldest slot empty (not yet filled), then an iteration with 2 invalid steps, then a full one.
  buffer = replay.push(buffer, _iteration(10, num_valid=4))
  buffer = replay.push(buffer, _iteration(20))
  counts, _ = jax.jit(lambda key: train_on_batch(
      _counting_step(32), jnp.zeros(32), replay.as_steps(buffer), key, num_epochs=num_epochs,
      num_minibatches=3, minibatch_size=2))(jax.random.PRNGKey(0))
  counts = np.asarray(counts)
  valid_ids = [10, 11, 12, 13] + list(range(20, 26))
  assert counts.sum() == num_epochs * 3 * 2  # every drawn step was valid
  assert set(np.flatnonzero(counts)) <= set(valid_ids)
  assert counts.max() <= num_epochs  # without replacement within an epoch
  # Over many keys, both filled slots are drawn from.
  totals = sum(np.asarray(jax.jit(lambda key: train_on_batch(
      _counting_step(32), jnp.zeros(32), replay.as_steps(buffer), key, num_epochs=1,
      num_minibatches=3, minibatch_size=2)[0])(jax.random.PRNGKey(seed))) for seed in range(20))
  assert totals[10:14].sum() > 0 and totals[20:26].sum() > 0


@pytest.mark.parametrize("policy_target", ["improved", "visits"])
@pytest.mark.slow
def test_search_targets_are_distributions_over_the_valid_actions(policy_target):
  env = make_env(TINY)
  network = make_network(TINY)
  keys = jax.random.split(jax.random.PRNGKey(0), 6)
  state, timestep = jax.vmap(env.reset)(keys)
  params = jax.jit(network.init)(jax.random.PRNGKey(1), timestep.observation)
  policy_fn = make_search_policy(env, network, params, num_simulations=4, max_num_considered_actions=4,
                                 policy_target=policy_target)
  action, extras = jax.jit(policy_fn)(jax.random.PRNGKey(2), state, timestep)
  weights = np.asarray(extras["action_weights"])
  invalid = np.asarray(flat_invalid_actions(timestep.observation))
  np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-5)
  assert np.all(weights[invalid] == 0.0)
  flat_action = np.asarray(action[:, 0] * TINY.max_num_items + action[:, 1])
  assert not np.any(invalid[np.arange(len(flat_action)), flat_action])
  if policy_target == "visits":
    # Visit frequencies: multiples of 1 / num_simulations.
    np.testing.assert_allclose(weights * 4, np.round(weights * 4), atol=1e-5)


@pytest.mark.slow
def test_seeds_train_in_their_own_resumable_workdirs_with_a_replay_buffer(tmp_path, capsys):
  config = dataclasses.replace(TINY, replay_iterations=2, num_seeds=2, seed=3)
  train.main(dataclasses.replace(config, workdir=str(tmp_path / "seeds"), num_iterations=1))
  train.main(dataclasses.replace(config, workdir=str(tmp_path / "seeds"), num_iterations=2))
  assert "Resuming" in capsys.readouterr().out
  resumed = {seed: [json.loads(line) for line in
                    (tmp_path / "seeds" / f"seed_{seed}" / "metrics.jsonl").read_text().splitlines()]
             for seed in (3, 4)}
  assert all([record["iteration"] for record in records] == [1, 2] for records in resumed.values())
  assert resumed[3][0]["loss"] != resumed[4][0]["loss"]  # different seeds, different runs
  assert (tmp_path / "seeds" / "comparison.md").exists()
  # The buffer is checkpointed: seed 4 resumed equals seed 4 trained straight through.
  straight = run_and_read_metrics(dataclasses.replace(config, num_seeds=1, seed=4),
                                  tmp_path / "straight", num_iterations=2)
  assert without_timings(straight[1]) == without_timings(resumed[4][1])
  # Stored whole: each device's own buffer, both slots filled after two iterations.
  valid = checkpoints.Checkpointer(tmp_path / "straight" / "checkpoints").restore()["replay"]["valid"]
  num_devices = jax.local_device_count()
  assert valid.shape == (num_devices, 2, TINY.max_num_items, TINY.rollout_batch_size // num_devices)
  assert np.all(np.any(valid, axis=(2, 3)))


def test_one_workdir_cannot_hold_single_and_per_seed_runs(tmp_path):
  (tmp_path / "seed_0").mkdir()
  with pytest.raises(ValueError, match="holds per-seed runs"):
    train.main(dataclasses.replace(TINY, workdir=str(tmp_path)))


@pytest.mark.slow
def test_replay_buffer_shape_matches_a_collected_batch():
  env = make_env(TINY)
  layout_config = dataclasses.replace(TINY, replay_iterations=3)
  algorithm = distill.make_algorithm(layout_config, env, make_network(TINY))
  state = algorithm.init(jax.random.PRNGKey(0))
  num_devices = jax.local_device_count()
  assert state.replay.valid.shape == (3, TINY.max_num_items, TINY.rollout_batch_size // num_devices)
  assert state.replay.action_weights.shape[-1] == TINY.obs_num_ems * TINY.max_num_items
