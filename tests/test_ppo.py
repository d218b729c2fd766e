"""PPO: the masked categorical, GAE, the clipped losses, the pmap update, and whole iterations."""
import dataclasses
import json
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from purepi.agents import distill, ppo
from purepi import config as config_lib
from purepi.cli import app
from purepi import devices as device_lib
from purepi.errors import UsageError
from purepi.env.make import make_env
from purepi.training import trained_networks
from purepi.training.algorithm import TrainState
from purepi.config import Config
from purepi.networks import make_network
from tests.trainer_runs import (TIMING_KEYS, run_and_read_metrics, straight_and_resumed,
                                 without_timings)

TINY = Config(mode="ppo", max_num_items=5, obs_num_ems=6, max_num_ems=6, num_layers=1, num_heads=2,
              key_size=4, mlp_units=(8,), rollout_batch_size=4, training_batch_size=8, num_epochs=2,
              eval_num_episodes=4, num_simulations=2, max_num_considered_actions=2,
              eval_num_simulations=2, eval_interval=2, save_interval=1, num_renders=1,
              learning_rate=3e-4, progress=False)
# Keys that measure time rather than what the run computed.
MINIMUM = np.finfo(np.float32).min


# --- Masked categorical -----------------------------------------------------


def test_masked_log_probs_and_entropy_stay_finite():
  rng = np.random.default_rng(0)
  num_actions = 6
  logits = rng.normal(size=(5, num_actions)).astype(np.float32) * 30.0
  logits[3] = [1e30, -1e30, MINIMUM, 0.0, 5.0, MINIMUM]  # extreme values, some already masked
  invalid = np.ones((5, num_actions), bool)
  invalid[0, 2] = False  # all but one invalid
  invalid[1] = True  # all invalid, as at the end of an episode
  invalid[2] = False  # all valid
  invalid[3, [1, 4]] = False
  invalid[4, 5] = False  # the only valid action is also the lowest logit
  logits[4, 5] = logits[4].min() - 1e3
  invalid_rows_with_a_valid_action = invalid[[0, 2, 3, 4]]
  logits = jnp.asarray(logits)
  invalid = jnp.asarray(invalid)

  log_probs = ppo.masked_log_probs(logits, invalid)
  entropies = ppo.entropy(log_probs)
  assert np.all(np.isfinite(log_probs)) and np.all(np.isfinite(entropies))
  probs = np.exp(np.asarray(log_probs, np.float64))
  np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-6)
  assert np.all(probs[[0, 2, 3, 4]][invalid_rows_with_a_valid_action] == 0)
  # All but one invalid: that action is certain, the entropy is 0.
  for row, action in ((0, 2), (4, 5)):
    assert log_probs[row, action] == 0.0 and entropies[row] == 0.0
  # All invalid: uniform (finite) and never used for learning, since such steps are padding.
  np.testing.assert_allclose(probs[1], 1.0 / num_actions, rtol=1e-6)
  # Gradients through the entropy and a chosen log-probability are finite too.
  def objective(logits):
    log_probs = ppo.masked_log_probs(logits, invalid)
    chosen = ppo.log_prob_of(log_probs, jnp.array([2, 0, 1, 4, 5]))
    return jnp.sum(ppo.entropy(log_probs)) + jnp.sum(chosen)
  grads = jax.grad(objective)(logits)
  assert np.all(np.isfinite(grads))
  assert np.all(grads[0] == 0) and np.all(grads[4] == 0)  # a certain action has nothing to learn


# --- GAE --------------------------------------------------------------------


def test_generalized_advantages_by_hand():
  # Episode 0 ends at step 2 (discount 0), step 3 is padding whose value (7.0) and
  # the bootstrap (5.0) must not leak in. Episode 1 is still running after step 3
  # and bootstraps from 0.4.
  rewards = jnp.array([[0.1, 0.5], [0.2, 0.25], [0.3, 0.0], [9.0, 0.125]])
  discounts = jnp.array([[1, 1], [1, 1], [0, 1], [0, 1]], jnp.float32)
  values = jnp.array([[0.5, 0.6], [0.4, 0.5], [0.2, 0.3], [7.0, 0.2]])
  valid = jnp.array([[1, 1], [1, 1], [1, 1], [0, 1]], bool)
  bootstrap_value = jnp.array([5.0, 0.4])
  advantages, targets = ppo.generalized_advantages(
      rewards, discounts, values, bootstrap_value, valid, discount=0.9, gae_lambda=0.5)
  # gamma * lambda = 0.45. Episode 0, backwards:
  #   delta_2 = 0.3 - 0.2 = 0.1                     A_2 = 0.1
  #   delta_1 = 0.2 + 0.9 * 0.2 - 0.4 = -0.02       A_1 = -0.02 + 0.45 * 0.1 = 0.025
  #   delta_0 = 0.1 + 0.9 * 0.4 - 0.5 = -0.04       A_0 = -0.04 + 0.45 * 0.025 = -0.02875
  # Episode 1:
  #   delta_3 = 0.125 + 0.9 * 0.4 - 0.2 = 0.285     A_3 = 0.285
  #   delta_2 = 0.0 + 0.9 * 0.2 - 0.3 = -0.12       A_2 = -0.12 + 0.45 * 0.285 = 0.00825
  #   delta_1 = 0.25 + 0.9 * 0.3 - 0.5 = 0.02       A_1 = 0.02 + 0.45 * 0.00825 = 0.0237125
  #   delta_0 = 0.5 + 0.9 * 0.5 - 0.6 = 0.35        A_0 = 0.35 + 0.45 * 0.0237125 = 0.360670625
  expected = np.array([[-0.02875, 0.360670625], [0.025, 0.0237125], [0.1, 0.00825], [0.0, 0.285]])
  np.testing.assert_allclose(advantages, expected, rtol=1e-5, atol=1e-7)
  expected_targets = np.where(np.asarray(valid), expected + np.asarray(values), 0.0)
  np.testing.assert_allclose(targets, expected_targets, rtol=1e-5, atol=1e-7)


def test_gae_limits_are_monte_carlo_and_one_step_td():
  rng = np.random.default_rng(1)
  num_steps, batch = 6, 3
  rewards = jnp.asarray(rng.uniform(size=(num_steps, batch)), jnp.float32)
  values = jnp.asarray(rng.uniform(size=(num_steps, batch)), jnp.float32)
  ends = np.array([2, 5, 4])  # the step at which each episode terminates
  steps = np.arange(num_steps)[:, None]
  valid = jnp.asarray(steps <= ends)
  discounts = jnp.asarray(steps < ends, jnp.float32)
  bootstrap_value = jnp.zeros(batch)
  # lambda = 1: the advantage is the Monte-Carlo return minus the value.
  advantages, targets = ppo.generalized_advantages(
      rewards, discounts, values, bootstrap_value, valid, discount=0.95, gae_lambda=1.0)
  returns = distill.monte_carlo_returns(rewards, discounts, valid, discount=0.95)
  np.testing.assert_allclose(targets, returns, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(advantages, np.where(valid, returns - values, 0.0), rtol=1e-5, atol=1e-6)
  # lambda = 0: the one-step TD error.
  advantages, _ = ppo.generalized_advantages(
      rewards, discounts, values, bootstrap_value, valid, discount=0.95, gae_lambda=0.0)
  next_values = np.concatenate([values[1:], bootstrap_value[None]])
  td_errors = rewards + 0.95 * discounts * next_values - values
  np.testing.assert_allclose(advantages, np.where(valid, td_errors, 0.0), rtol=1e-5, atol=1e-6)


# --- The clipped losses -----------------------------------------------------


class _Observation(NamedTuple):
  """The two fields the loss reads: one EMS, two items."""
  action_mask: jax.Array  # [B, 1, 2]
  ems_mask: jax.Array  # [B, 1]: with the mask's rank, it says the grid is (EMS, item)


class _FixedOutputs:
  """Stands in for the network: `params` are the outputs."""

  @staticmethod
  def apply(params, observation):
    del observation
    return params["logits"], params["value"]


def _two_action_logits(first_action_probability):
  return np.log([first_action_probability, 1.0 - first_action_probability])


def test_ratio_and_clipping_by_hand():
  config = dataclasses.replace(TINY, clip_eps=0.2, value_clip_eps=0.2, entropy_coef=0.01,
                               value_coef=0.5)
  # Old policy: probability 1/2 for each action. New policy and advantages:
  #   step 0: action 0 now 0.75 -> ratio 1.5, A = +1: clipped to 1.2     (surrogate  1.2)
  #   step 1: action 1 now 0.30 -> ratio 0.6, A = -2: clipped to 0.8     (surrogate -1.6)
  #   step 2: action 0 now 0.55 -> ratio 1.1, A = +1: inside the clip    (surrogate  1.1)
  #   step 3: padding, with a log-probability that would overflow the ratio.
  new_first_probs = (0.75, 0.7, 0.55, 0.5)
  params = {"logits": jnp.asarray(np.stack([_two_action_logits(p) for p in new_first_probs]), jnp.float32),
            "value": jnp.array([0.9, 0.6, 0.1, 0.3])}
  minibatch = ppo.PPOBatch(
      observation=_Observation(action_mask=jnp.ones((4, 1, 2), bool), ems_mask=jnp.ones((4, 1), bool)),
      action=jnp.array([0, 1, 0, 1]),
      log_prob=jnp.array([np.log(0.5)] * 3 + [-1e4], jnp.float32),
      value=jnp.array([0.5, 0.5, 0.5, 0.5]),
      advantage=jnp.zeros(4),  # unused: the loss takes the normalised advantage
      target=jnp.array([1.0, 0.0, 0.6, 0.0]),
      valid=jnp.array([True, True, True, False]))
  normalized_advantage = jnp.array([1.0, -2.0, 1.0, 50.0])
  loss, parts = ppo.ppo_loss(params, _FixedOutputs, minibatch, normalized_advantage, config, 3.0)

  np.testing.assert_allclose(parts["policy_loss"], -(1.2 - 1.6 + 1.1) / 3, rtol=1e-5)
  # Value, old 0.5, clipped to [0.3, 0.7]; the larger of the two squared errors counts:
  #   step 0: V 0.9 -> 0.7, target 1.0: max(0.01, 0.09) = 0.09
  #   step 1: V 0.6 inside,  target 0.0: 0.36
  #   step 2: V 0.1 -> 0.3, target 0.6: max(0.25, 0.09) = 0.25
  np.testing.assert_allclose(parts["value_loss"], 0.5 * (0.09 + 0.36 + 0.25) / 3, rtol=1e-5)
  binary_entropy = lambda p: -(p * np.log(p) + (1 - p) * np.log(1 - p))
  expected_entropy = sum(binary_entropy(p) for p in new_first_probs[:3]) / 3
  np.testing.assert_allclose(parts["entropy"], expected_entropy, rtol=1e-5)
  ratios = np.array([1.5, 0.6, 1.1])
  np.testing.assert_allclose(parts["approx_kl"], np.mean(ratios - 1 - np.log(ratios)), rtol=1e-4)
  np.testing.assert_allclose(parts["clip_fraction"], 2 / 3, rtol=1e-6)
  np.testing.assert_allclose(
      loss, parts["policy_loss"] + 0.5 * parts["value_loss"] - 0.01 * parts["entropy"], rtol=1e-6)
  np.testing.assert_allclose(parts["loss"], loss, rtol=1e-6)

  # Where a clip is active the gradient through it is zero; padding has none.
  no_entropy = dataclasses.replace(config, entropy_coef=0.0)
  grads = jax.grad(lambda p: ppo.ppo_loss(p, _FixedOutputs, minibatch, normalized_advantage,
                                          no_entropy, 3.0)[0])(params)
  logit_grads, value_grads = np.asarray(grads["logits"]), np.asarray(grads["value"])
  assert np.all(np.isfinite(logit_grads)) and np.all(np.isfinite(value_grads))
  assert np.all(logit_grads[[0, 1, 3]] == 0) and np.any(logit_grads[2] != 0)
  # Value: step 0's larger error is the clipped one (no gradient); steps 1 and 2 take the
  # unclipped one, d/dV 0.5 (value_coef) * 0.5 * (V - G)^2 / 3 = 0.5 * (V - G) / 3.
  assert value_grads[0] == 0 and value_grads[3] == 0
  np.testing.assert_allclose(value_grads[1:3], [0.5 * 0.6 / 3, 0.5 * -0.5 / 3], rtol=1e-5)


# --- The pmap update and collection on the tiny network -----------------------


@pytest.fixture(scope="module")
def tiny_setup():
  env = make_env(TINY)
  network = make_network(TINY)
  algorithm = ppo.make_algorithm(TINY, env, network)
  state = algorithm.init(jax.random.PRNGKey(3))
  devices = jax.local_devices()
  collect = jax.pmap(algorithm.collect, axis_name=device_lib.AXIS_NAME, devices=devices)
  batch, metrics = collect(device_lib.replicate(state, devices),
                           jax.random.split(jax.random.PRNGKey(4), len(devices)))
  return env, network, state, batch, device_lib.unreplicate(metrics)


@pytest.mark.slow
def test_collect_samples_valid_actions_and_records_their_log_probs(tiny_setup):
  env, network, state, batch, metrics = tiny_setup
  valid = np.asarray(batch.valid)
  flat_mask = np.asarray(batch.observation.action_mask).reshape(valid.shape + (-1,))
  chosen_is_valid = np.take_along_axis(flat_mask, np.asarray(batch.action)[..., None], -1)[..., 0]
  assert np.all(chosen_is_valid[valid])
  logits, values = jax.jit(network.apply)(state.params, batch.observation)
  log_probs = ppo.masked_log_probs(logits, ~batch.observation.action_mask.reshape(logits.shape))
  np.testing.assert_allclose(ppo.log_prob_of(log_probs, batch.action)[valid],
                             np.asarray(batch.log_prob)[valid], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(values[valid], np.asarray(batch.value)[valid], rtol=1e-5, atol=1e-6)
  assert np.all(np.asarray(batch.advantage)[~valid] == 0)
  # Every episode ends within max_num_items steps, so the targets are the GAE of full episodes.
  assert metrics["env_steps"] == valid.sum() and 0 < metrics["rollout_return"] <= 1


@pytest.mark.slow
def test_pmap_update_over_two_devices_equals_one_device(tiny_setup):
  _, network, state, batch, _ = tiny_setup
  devices = jax.local_devices()
  assert len(devices) == 2, "conftest.py forces two host devices"
  # One minibatch of 8 valid and padding steps taken from the collected batch.
  flat = jax.tree.map(lambda leaf: np.asarray(leaf).reshape((-1,) + leaf.shape[3:]), batch)
  order = np.argsort(~np.asarray(flat.valid), kind="stable")
  minibatch = jax.tree.map(lambda leaf: leaf[order[[0, 1, 2, -1, 3, 4, -2, -3]]], flat)
  assert 0 < int(minibatch.valid.sum()) < 8
  # Plain SGD, as in the distillation test: Adam's first step would amplify float noise.
  optimizer = optax.sgd(1.0)
  state = TrainState(state.params, optimizer.init(state.params))
  train_step = ppo.make_train_step(network, optimizer, TINY)

  def run_on(device_subset):
    count = len(device_subset)
    step = jax.pmap(train_step, axis_name=device_lib.AXIS_NAME, devices=device_subset)
    split = jax.tree.map(lambda leaf: leaf.reshape((count, -1) + leaf.shape[1:]), minibatch)
    new_state, metrics = step(device_lib.replicate(state, device_subset), split)
    return device_lib.unreplicate(new_state), device_lib.unreplicate(metrics)

  state_one, metrics_one = run_on(devices[:1])
  state_two, metrics_two = run_on(devices)
  # approx_kl is 0 up to rounding at the first step (the ratio is 1): both values are float32
  # noise of the log-probabilities, a few 1e-7 each, whose sign differs between machines.
  for name in ("loss", "policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction"):
    np.testing.assert_allclose(metrics_two[name], metrics_one[name], rtol=1e-5, atol=1e-6)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
               state_two.params, state_one.params)
  changed = jax.tree.map(lambda a, b: bool(np.any(a != b)), state_one.params, state.params)
  assert any(jax.tree.leaves(changed))


def test_bad_ppo_settings_are_rejected():
  env = make_env(TINY)
  network = make_network(TINY)
  for name, value in (("clip_eps", 0.0), ("value_clip_eps", -0.1), ("entropy_coef", -1.0)):
    with pytest.raises(UsageError, match=f"--{name}"):
      config_lib.validate(dataclasses.replace(TINY, **{name: value}))
  with pytest.raises(UsageError, match="--training_batch_size"):
    ppo.make_algorithm(dataclasses.replace(TINY, training_batch_size=64), env, network)


# --- Whole iterations through run_experiment --------------------------------


def _run(workdir, **overrides):
  return run_and_read_metrics(TINY, workdir, **overrides)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  root = tmp_path_factory.mktemp("ppo")
  return (root,) + straight_and_resumed(TINY, root)


@pytest.mark.slow
def test_one_tiny_run_writes_the_workdir(runs):
  root, straight, _ = runs
  workdir = root / "a"
  assert [record["iteration"] for record in straight] == [1, 2]
  for record in straight:
    for name in ("iteration", "wall_clock_s", "env_steps", "decisions_per_s", "rollout_return",
                 "loss", "policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction"):
      assert np.isfinite(record[name]), name
    assert "search_decisions" not in record
    assert record["entropy"] > 0 and 0 <= record["clip_fraction"] <= 1
  assert straight[1]["env_steps"] > straight[0]["env_steps"] > 0
  for name in ("eval_greedy_utilization", "eval_greedy_ci95", "eval_search_utilization",
               "eval_search_ci95"):
    assert name in straight[1] and name not in straight[0]
  assert 0 < straight[1]["eval_greedy_utilization"] <= 1
  assert 0 < straight[1]["eval_search_utilization"] <= 1
  config = json.loads((workdir / "config.json").read_text())
  assert config["mode"] == "ppo" and config["num_epochs"] == 2
  baselines = json.loads((workdir / "baselines.json").read_text())
  assert set(baselines) == {"random", "largest_item_deepest_bottom_left", "tightest_fit"}
  assert (workdir / "learning_curve.png").stat().st_size > 0
  assert len(list((workdir / "renders").glob("*.png"))) == 1
  assert sorted(p.name for p in (workdir / "checkpoints").iterdir() if p.name.isdigit()) == ["1", "2"]
  # The checkpoint holds the trained PPO params, loadable by --mode=eval/render.
  params, run_config = trained_networks.load_params(str(workdir))
  assert run_config.mode == "ppo"
  assert jax.tree.structure(params) == jax.tree.structure(
      ppo.make_algorithm(TINY, make_env(TINY), make_network(TINY)).init(jax.random.PRNGKey(0)).params)


@pytest.mark.slow
def test_same_seed_same_metrics_and_resume_continues_the_run(runs):
  _, straight, resumed = runs
  assert [record["iteration"] for record in resumed] == [1, 2]
  shared = set(straight[0]) & set(resumed[0]) - TIMING_KEYS
  assert {name: straight[0][name] for name in shared} == {name: resumed[0][name] for name in shared}
  assert without_timings(resumed[1]) == without_timings(straight[1])
  assert resumed[1]["wall_clock_s"] > resumed[0]["wall_clock_s"]


# --- The flag file ----------------------------------------------------------


def _config_from_flagfiles(*arguments):
  """The validated Config that `run.py` would build from these arguments, as a dict (nothing is run)."""
  return dataclasses.asdict(app.parse_config(arguments))


def test_ppo_flags_hold_the_ppo_settings():
  config = _config_from_flagfiles("--flagfile=ppo.flags")
  assert config["mode"] == "ppo" and config["workdir"] == "workdirs/ppo"
  expected = {"learning_rate": 3e-4, "num_epochs": 4, "gae_lambda": 0.95, "clip_eps": 0.2,
              "value_clip_eps": 0.2, "entropy_coef": 0.01, "value_coef": 0.5, "max_grad_norm": 1.0}
  assert {name: config[name] for name in expected} == expected


def test_ppo_flags_match_distill_flags_except_the_method():
  """The fair comparison: PPO differs from the distillation default only in its own settings.

  Besides PPO's own optimiser settings, only the budget differs: PPO's
  iteration count is set so that its training wall-clock matches
  distillation's on 2 idle CPU cores (measured; see ppo.flags), with its
  evaluation points at the same fractions of the run. A change of
  distill.flags' budget or search size must be re-measured there.
  """
  ppo_config = _config_from_flagfiles("--flagfile=ppo.flags")
  distill_config = _config_from_flagfiles("--flagfile=distill.flags")
  own = {"mode", "workdir", "num_epochs", "learning_rate", "learning_rate_schedule",
         "num_iterations", "eval_interval",  # the wall-clock-matched budget
         "replay_iterations"}  # distillation's replay buffer; PPO is on-policy
  differing = {name for name in ppo_config if ppo_config[name] != distill_config[name]}
  assert differing <= own, differing - own
  assert ppo_config["replay_iterations"] == 1
  assert ppo_config["num_iterations"] // ppo_config["eval_interval"] == (
      distill_config["num_iterations"] // distill_config["eval_interval"])


def test_paper_flags_overlay_onto_ppo_flags():
  config = _config_from_flagfiles("--flagfile=ppo.flags", "--flagfile=paper.flags",
                                  "--workdir=workdirs/ppo_paper", "--learning_rate=3e-4")
  assert config["mode"] == "ppo" and config["num_epochs"] == 4 and config["learning_rate"] == 3e-4
  assert (config["num_layers"], config["key_size"], config["rollout_batch_size"],
          config["training_batch_size"]) == (4, 32, 1024, 4096)
