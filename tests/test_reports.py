"""What a run shows: TensorBoard scalars read back by TensorBoard, the learning curve, chunked evaluation."""
import dataclasses

import jax
import numpy as np
import pytest
from tensorboard.backend.event_processing import event_accumulator

from purepi.config import Config
from purepi.devices import replicate
from purepi.evaluation import evaluator as evaluator_lib
from purepi.evaluation import reports
from purepi.env.make import make_env
from purepi.evaluation.protocol import evaluate_policy
from purepi.networks import make_network
from purepi.policies.search_policy import make_greedy_policy
from tests.trainer_runs import run_and_read_metrics

TINY = Config(max_num_items=5, obs_num_ems=6, max_num_ems=6, num_layers=1, num_heads=2, key_size=4,
              mlp_units=(8,), rollout_batch_size=4, training_batch_size=8, num_simulations=2,
              max_num_considered_actions=2, eval_num_episodes=4, eval_num_simulations=2,
              eval_interval=2, save_interval=2, num_renders=0, progress=False)


@pytest.fixture(scope="module")
def tensorboard_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("tensorboard")
  records = run_and_read_metrics(dataclasses.replace(TINY, tensorboard=True), workdir, num_iterations=2)
  return workdir, records


@pytest.mark.slow
def test_tensorboard_event_files_hold_every_metric_per_iteration(tensorboard_run):
  workdir, records = tensorboard_run
  accumulator = event_accumulator.EventAccumulator(str(workdir / "tensorboard"))
  accumulator.Reload()
  tags = set(accumulator.Tags()["scalars"])
  assert {"loss", "policy_loss", "value_loss", "grad_norm", "target_entropy", "rollout_return",
          "eval_greedy_utilization", "eval_search_utilization"} <= tags
  losses = accumulator.Scalars("loss")
  assert [event.step for event in losses] == [1, 2]
  np.testing.assert_allclose([event.value for event in losses], [record["loss"] for record in records],
                             rtol=1e-6)
  assert [event.step for event in accumulator.Scalars("eval_greedy_utilization")] == [2]


@pytest.mark.slow
def test_learning_curve_is_a_png(tensorboard_run):
  workdir, records = tensorboard_run
  png = (workdir / "learning_curve.png").read_bytes()
  assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
  # Also from records without evaluations or losses (a resumed, just-started run).
  reports.plot_learning_curve(records[:1], None, workdir / "first.png")
  assert (workdir / "first.png").stat().st_size > 10_000


@pytest.mark.slow
def test_chunked_evaluation_keeps_the_held_out_order(monkeypatch):
  monkeypatch.setattr(evaluator_lib, "MAX_CHUNK_PER_DEVICE", 8)
  config = dataclasses.replace(TINY, eval_num_episodes=32)
  env, network = make_env(config), make_network(config)
  devices = jax.local_devices()
  evaluator = evaluator_lib.Evaluator(config, env, network, devices)
  assert evaluator._chunked_keys.shape[0] == 2  # 16 episodes per device, in 2 chunks of 8
  params = jax.jit(network.init)(jax.random.PRNGKey(0), jax.vmap(env.reset)(evaluator.instance_keys[:1])[1].observation)
  greedy = evaluator.outcomes(replicate(params, devices))["greedy"]
  direct = jax.jit(lambda keys: evaluate_policy(env, make_greedy_policy(env, network, params), keys,
                                                jax.random.PRNGKey(0)))(evaluator.instance_keys)
  np.testing.assert_array_equal(greedy.items_placed, np.asarray(direct.items_placed))
  np.testing.assert_allclose(greedy.utilization, np.asarray(direct.utilization), rtol=1e-6)


@pytest.mark.slow
def test_the_search_evaluation_has_its_own_considered_actions_and_value_scale(monkeypatch):
  """The evaluation protocol, not the training search, sets the evaluation's Gumbel-Top-k and c_scale."""
  settings = []
  make_search_policy = evaluator_lib.make_search_policy

  def recording(*args, **kwargs):
    settings.append((kwargs["max_num_considered_actions"], kwargs["value_scale"]))
    return make_search_policy(*args, **kwargs)

  monkeypatch.setattr(evaluator_lib, "make_search_policy", recording)
  config = dataclasses.replace(TINY, max_num_considered_actions=2, eval_max_num_considered_actions=1,
                               search_value_scale=0.03, eval_search_value_scale=0.2)
  env, network = make_env(config), make_network(config)
  devices = jax.local_devices()
  evaluator = evaluator_lib.Evaluator(config, env, network, devices)
  params = jax.jit(network.init)(jax.random.PRNGKey(0), jax.vmap(env.reset)(evaluator.instance_keys[:1])[1].observation)
  search = evaluator.outcomes(replicate(params, devices))["search"]
  assert settings == [(1, 0.2)] and search.utilization.shape == (config.eval_num_episodes,)


def test_number_of_chunks():
  assert evaluator_lib.num_chunks(512) == 8
  assert evaluator_lib.num_chunks(500) == 10
  assert evaluator_lib.num_chunks(64) == 1
  assert evaluator_lib.num_chunks(509) == 1  # a prime: one chunk rather than 509 of one episode
