"""Search distillation: targets, loss, the pmap update, and whole iterations with resume."""
import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from purepi.agents import distill
from purepi.cli import evaluate, settings
from purepi import devices as device_lib
from purepi.env.make import make_env
from purepi.training import algorithm, checkpoints, trained_networks
from purepi.training import workdir as workdir_lib
from purepi.config import Config
from purepi.errors import UsageError
from purepi.networks import make_network
from purepi.policies import search_policy
from purepi.policies.rollout import rollout, unflatten_action
from tests.trainer_runs import (TIMING_KEYS, run_and_read_metrics, straight_and_resumed,
                                 without_timings)

TINY = Config(max_num_items=5, obs_num_ems=6, max_num_ems=6, num_layers=1, num_heads=2,
              key_size=4, mlp_units=(8,), rollout_batch_size=4, training_batch_size=8,
              num_simulations=2, max_num_considered_actions=2, eval_num_episodes=4,
              eval_num_simulations=2, eval_interval=2, save_interval=1, num_renders=1,
              progress=False)
# Keys that measure time rather than what the run computed.


def test_monte_carlo_returns_by_hand():
  # Episode 0 ends at step 2 (step 3 is padding); episode 1 runs all 4 steps.
  rewards = jnp.array([[0.1, 0.5], [0.2, 0.25], [0.3, 0.0], [9.0, 0.125]])
  discounts = jnp.array([[1, 1], [1, 1], [0, 1], [0, 0]], jnp.float32)
  valid = jnp.array([[1, 1], [1, 1], [1, 1], [0, 1]], bool)
  returns = distill.monte_carlo_returns(rewards, discounts, valid, discount=0.9)
  expected = np.array([[0.1 + 0.9 * (0.2 + 0.9 * 0.3), 0.5 + 0.9 * (0.25 + 0.9 * 0.9 * 0.125)],
                       [0.2 + 0.9 * 0.3, 0.25 + 0.9 * 0.9 * 0.125],
                       [0.3, 0.9 * 0.125],
                       [0.0, 0.125]])
  np.testing.assert_allclose(returns, expected, rtol=1e-6)


class _FixedOutputs:
  """Stands in for the network: `params` are the outputs."""

  @staticmethod
  def apply(params, observation):
    del observation
    return params["logits"], params["value"]


def test_loss_by_hand():
  minimum = np.finfo(np.float32).min
  params = {"logits": jnp.array([[0.0, np.log(3.0), minimum], [0.0, 0.0, 0.0]]),
            "value": jnp.array([0.6, 0.1])}
  minibatch = distill.DistillationBatch(
      observation=jnp.zeros(2),
      action_weights=jnp.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]]),
      returns=jnp.array([0.8, 0.9]),
      valid=jnp.array([True, False]))
  loss, (policy_loss, value_loss) = distill.distillation_loss(
      params, _FixedOutputs, minibatch, value_loss_weight=0.5, num_valid_per_device=1.0)
  # Only step 0 counts: p = (1/4, 3/4, 0), so CE = log 4 - log(3) / 2.
  np.testing.assert_allclose(policy_loss, np.log(4.0) - 0.5 * np.log(3.0), rtol=1e-6)
  np.testing.assert_allclose(value_loss, 0.2 ** 2, rtol=1e-5)
  np.testing.assert_allclose(loss, policy_loss + 0.5 * value_loss, rtol=1e-6)
  grads = jax.grad(lambda p: distill.distillation_loss(p, _FixedOutputs, minibatch, 0.5, 1.0)[0])(params)
  assert np.all(np.isfinite(grads["logits"])) and np.all(grads["logits"][1] == 0)


@pytest.fixture(scope="module")
def minibatch_setup():
  env = make_env(TINY)
  network = make_network(TINY)
  size = 8
  _, timestep = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), size))
  observation = timestep.observation
  invalid = ~observation.action_mask.reshape(size, -1)
  logits = jax.random.normal(jax.random.PRNGKey(1), invalid.shape)
  weights = jax.nn.softmax(jnp.where(invalid, -jnp.inf, logits))
  minibatch = distill.DistillationBatch(
      observation=observation, action_weights=weights,
      returns=jax.random.uniform(jax.random.PRNGKey(2), (size,)),
      # Uneven valid counts over the two halves: 3 and 1.
      valid=jnp.array([1, 1, 0, 1, 0, 0, 1, 0], bool))
  algorithm = distill.make_algorithm(TINY, env, network)
  state = algorithm.init(jax.random.PRNGKey(3))
  return network, minibatch, state


@pytest.mark.slow
def test_pmap_update_over_two_devices_equals_one_device(minibatch_setup):
  network, minibatch, state = minibatch_setup
  devices = jax.local_devices()
  assert len(devices) == 2, "conftest.py forces two host devices"
  # Plain SGD: the parameters move linearly in the averaged gradient. (Adam's
  # first step is about sign(gradient), which turns float noise in near-zero
  # gradients into full-size differences.)
  optimizer = optax.sgd(1.0)
  state = algorithm.TrainState(state.params, optimizer.init(state.params))
  train_step = distill.make_train_step(network, optimizer, value_loss_weight=0.5)

  def run_on(device_subset):
    count = len(device_subset)
    step = jax.pmap(train_step, axis_name=device_lib.AXIS_NAME, devices=device_subset)
    split = jax.tree.map(lambda leaf: leaf.reshape((count, -1) + leaf.shape[1:]), minibatch)
    new_state, metrics = step(device_lib.replicate(state, device_subset), split)
    return device_lib.unreplicate(new_state), device_lib.unreplicate(metrics)

  state_one, metrics_one = run_on(devices[:1])
  state_two, metrics_two = run_on(devices)
  for name in ("loss", "policy_loss", "value_loss"):
    np.testing.assert_allclose(metrics_two[name], metrics_one[name], rtol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
               state_two.params, state_one.params)
  changed = jax.tree.map(lambda a, b: bool(np.any(a != b)), state_one.params, state.params)
  assert any(jax.tree.leaves(changed))


@pytest.mark.slow
def test_update_without_valid_steps_changes_nothing(minibatch_setup):
  network, minibatch, state = minibatch_setup
  optimizer = optax.adam(1e-3)
  state = algorithm.TrainState(state.params, optimizer.init(state.params))
  train_step = distill.make_train_step(network, optimizer, value_loss_weight=1.0)
  devices = jax.local_devices()[:1]
  padding_only = minibatch._replace(valid=jnp.zeros_like(minibatch.valid))
  new_state, _ = jax.pmap(train_step, axis_name=device_lib.AXIS_NAME, devices=devices)(
      device_lib.replicate(state, devices), jax.tree.map(lambda leaf: leaf[None], padding_only))
  jax.tree.map(np.testing.assert_array_equal, device_lib.unreplicate(new_state), state)


@pytest.mark.slow
def test_greedy_episodes_act_by_the_network_and_keep_the_search_target():
  env = make_env(TINY)
  network = make_network(TINY)
  batch = 4
  state, timestep = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), batch))
  params = jax.jit(network.init)(jax.random.PRNGKey(1), timestep.observation)
  searched = search_policy.make_search_policy(env, network, params, num_simulations=2,
                                              max_num_considered_actions=2)
  greedy = search_policy.make_greedy_policy(env, network, params)
  # One program for both runs (compiled once): with no greedy episode the mixed policy is the search.
  play = jax.jit(lambda acts_greedily: rollout(
      env, distill.act_greedily_in(searched, greedy, acts_greedily), jax.random.PRNGKey(2), state,
      timestep, TINY.max_num_items)[2])
  mixed_steps = play(jnp.array([True, False, True, False]))
  searched_steps = play(jnp.zeros(batch, bool))

  logits, _ = jax.vmap(network.apply, in_axes=(None, 0))(params, mixed_steps.observation)
  greedy_actions = unflatten_action(jnp.argmax(logits, axis=-1), env.action_grid_shape)
  valid = np.asarray(mixed_steps.valid)
  for episode in (0, 2):  # every step the network's most likely action
    np.testing.assert_array_equal(mixed_steps.action[valid[:, episode], episode],
                                  greedy_actions[valid[:, episode], episode])
  for episode in (1, 3):  # the search's episodes are the pure search's, step for step
    np.testing.assert_array_equal(mixed_steps.action[:, episode], searched_steps.action[:, episode])
  # Every state, the greedy episodes' too, carries a search target: a distribution over valid actions.
  weights = np.asarray(mixed_steps.policy_extras["action_weights"])[valid]
  invalid = ~np.asarray(mixed_steps.observation.action_mask).reshape(valid.shape + (-1,))[valid]
  np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)
  assert np.all(weights[invalid] == 0)
  assert not np.array_equal(mixed_steps.action[:, 0], searched_steps.action[:, 0])


def _run(workdir, **overrides):
  return run_and_read_metrics(TINY, workdir, **overrides)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  root = tmp_path_factory.mktemp("distill")
  return (root,) + straight_and_resumed(TINY, root)


@pytest.mark.slow
def test_one_tiny_run_writes_the_workdir(runs):
  root, straight, _ = runs
  workdir = root / "a"
  assert [record["iteration"] for record in straight] == [1, 2]
  for record in straight:
    for name in ("iteration", "wall_clock_s", "env_steps", "decisions_per_s", "rollout_return",
                 "loss", "policy_loss", "value_loss", "search_decisions"):
      assert np.isfinite(record[name]), name
  assert straight[1]["env_steps"] > straight[0]["env_steps"] > 0
  assert straight[1]["wall_clock_s"] > straight[0]["wall_clock_s"]
  for name in ("eval_greedy_utilization", "eval_greedy_ci95", "eval_search_utilization",
               "eval_search_ci95"):
    assert name in straight[1] and name not in straight[0]
  assert 0 < straight[1]["eval_search_utilization"] <= 1
  config = json.loads((workdir / "config.json").read_text())
  assert config["mode"] == "distill" and config["num_iterations"] == 2
  baselines = json.loads((workdir / "baselines.json").read_text())
  assert set(baselines) == {"random", "largest_item_deepest_bottom_left", "tightest_fit"}
  assert (workdir / "learning_curve.png").stat().st_size > 0
  assert len(list((workdir / "renders").glob("*.png"))) == 1
  assert sorted(p.name for p in (workdir / "checkpoints").iterdir() if p.name.isdigit()) == ["1", "2"]


@pytest.mark.slow
def test_resumed_run_continues_the_same_run(runs):
  _, straight, resumed = runs
  assert [record["iteration"] for record in resumed] == [1, 2]
  # Same seed, same metrics; and iteration 2 after a resume equals iteration 2 straight through.
  assert without_timings(resumed[1]) == without_timings(straight[1])
  shared = set(straight[0]) & set(resumed[0]) - TIMING_KEYS
  assert {name: straight[0][name] for name in shared} == {name: resumed[0][name] for name in shared}
  assert resumed[1]["wall_clock_s"] > resumed[0]["wall_clock_s"]


@pytest.mark.slow
def test_checkpoint_holds_the_final_params(runs, minibatch_setup):
  root, _, _ = runs
  params, run_config = trained_networks.load_params(str(root / "a"))
  assert run_config.num_iterations == 2
  _, _, initial_state = minibatch_setup
  assert jax.tree.structure(params) == jax.tree.structure(initial_state.params)
  checkpointer = checkpoints.Checkpointer(root / "a" / "checkpoints")
  first = checkpointer.restore(iteration=1)
  assert int(first["iteration"]) == 1
  assert int(checkpointer.restore()["env_steps"]) > int(first["env_steps"])


@pytest.mark.slow
def test_eval_and_render_modes_load_the_workdir(runs, tmp_path, capsys):
  root, straight, _ = runs
  config = dataclasses.replace(TINY, mode="eval", checkpoint=str(root / "a"), workdir=str(tmp_path))
  evaluate.eval_main(config)
  table = capsys.readouterr().out
  greedy_row = next(line for line in table.splitlines() if line.startswith("| network, greedy"))
  assert f"{straight[1]['eval_greedy_utilization']:.4f}" in greedy_row
  assert "| tightest_fit |" in table
  value_line = next(line for line in table.splitlines() if line.startswith("Value head at the first state: "))
  assert 0 <= float(value_line.split()[6]) <= 1
  config = dataclasses.replace(config, mode="render")
  evaluate.render_main(dataclasses.replace(config, num_renders=2))
  assert len(list((tmp_path / "renders").glob("*.png"))) == 2
  pages = sorted((tmp_path / "renders").glob("*.html"))
  assert [page.stem for page in pages] == sorted(png.stem for png in (tmp_path / "renders").glob("*.png"))
  utilization = float(pages[0].stem.rsplit("_", 1)[1])
  assert f"<title>Load plan: {utilization:.1%} of the container" in pages[0].read_text()
  container = tmp_path / "container.csv"
  container.write_text("Item_Name,Length,Width,Height,Quantity\ncrate,2000,1000,1000,2\n")
  csv_workdir = tmp_path / "csv"
  evaluate.render_main(dataclasses.replace(config, num_renders=2, csv_path=str(container),
                                           workdir=str(csv_workdir)))
  assert len(list((csv_workdir / "renders").glob("*.png"))) == 1  # one CSV, one instance
  assert '"name": "crate"' in next((csv_workdir / "renders").glob("*.html")).read_text()


@pytest.mark.slow
def test_resuming_with_other_settings_is_refused(runs):
  root, _, _ = runs
  with pytest.raises(UsageError, match=r"--num_layers: 1 stored, 2 now\); choose another --workdir"):
    _run(root / "a", num_iterations=3, num_layers=2)


def test_metrics_past_the_checkpoint_are_dropped(tmp_path):
  path = tmp_path / "metrics.jsonl"
  for iteration in (1, 2, 3):
    workdir_lib.append_metrics(path, {"iteration": iteration})
  workdir_lib.keep_metrics_through(path, 2)
  assert [record["iteration"] for record in workdir_lib.read_metrics(path)] == [1, 2]
  workdir_lib.keep_metrics_through(path, 0)  # no checkpoint yet: nothing is kept
  assert workdir_lib.read_metrics(path) == []


def test_cosine_schedule_reaches_zero_after_the_last_iteration():
  config = dataclasses.replace(TINY, learning_rate=0.1, learning_rate_schedule="cosine",
                               num_iterations=2)
  layout = algorithm.BatchLayout(episodes_per_device=1, num_steps=5, num_minibatches=3,
                                  minibatch_per_device=1)
  optimizer = algorithm.make_optimizer(config, layout)
  params = jnp.zeros(2)
  opt_state = optimizer.init(params)
  step_sizes = []
  for _ in range(7):
    updates, opt_state = optimizer.update(jnp.ones(2), opt_state, params)
    step_sizes.append(float(jnp.abs(updates[0])))
  np.testing.assert_allclose(step_sizes[0], 0.1, rtol=1e-4)  # Adam's first step is the rate.
  assert all(later < earlier for earlier, later in zip(step_sizes[:6], step_sizes[1:6]))
  assert step_sizes[6] == 0.0


@pytest.mark.slow
def test_a_run_with_rotations_trains_and_packs_an_item_only_a_turn_lets_in(tmp_path):
  """--rotations=all on instances not cut from the container: distillation trains on the
  (EMS, item, orientation) grid, and the trained run packs a CSV whose column is taller than the
  container, which only fits lying down; the load plan says how each item was turned."""
  from purepi.cli import pack
  workdir = tmp_path / "rotated"
  records = run_and_read_metrics(dataclasses.replace(TINY, rotations="all", generator="boxes"), workdir,
                                 num_iterations=1, eval_interval=1, num_renders=0)
  assert records[-1]["iteration"] == 1 and np.isfinite(records[-1]["policy_loss"])
  params, run_config = trained_networks.load_params(str(workdir))
  env = make_env(run_config)
  _, timestep = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), 2))
  logits, _ = make_network(run_config).apply(params, timestep.observation)
  assert env.action_grid_shape == (6, 5, 6) and logits.shape == (2, 6 * 5 * 6)
  # --mode=eval keeps the run's instances and orientations unless the command line gives them
  # (this call's defaults are cut, none).
  eval_config = settings.for_trained_run(dataclasses.replace(TINY, mode="eval", checkpoint=str(workdir)),
                                         run_config, given=())
  _, eval_env, _, _ = evaluate._load_for_evaluation(eval_config)
  assert type(eval_env.generator).__name__ == "RandomBoxGenerator" and eval_env.rotations == "all"

  (tmp_path / "load.csv").write_text("Item_Name,Length,Width,Height,Quantity\n"
                                     "column,500,400,3000,1\ncrate,1200,800,700,2\n")
  plan = pack.main(dataclasses.replace(run_config, mode="pack", checkpoint=str(workdir), pack_policy="greedy",
                                       csv_path=str(tmp_path / "load.csv"), workdir=str(tmp_path / "plan")))
  column = next(placement for placement in plan.placements if placement.name == "column")
  assert column.orientation[0] == "H" and column.x_len == 3000  # only its height fits along the length
  for placement in plan.placements:
    listed = {"column": (500, 400, 3000), "crate": (1200, 800, 700)}[placement.name]
    assert (placement.x_len, placement.y_len, placement.z_len) == tuple(
        listed["LWH".index(side)] for side in placement.orientation)
