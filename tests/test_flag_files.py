"""distill.flags and paper.flags name only Config fields, with values that validate."""
import pytest
from absl import flags

from purepi import config as config_lib
from purepi.cli import app


@pytest.mark.parametrize("files", [("distill.flags",), ("distill.flags", "paper.flags")])
def test_flag_files_validate(files):
  config = app.parse_config([f"--flagfile={name}" for name in files])
  config_lib.validate_for_devices(config, num_devices=2)


def test_paper_overlay_is_the_blog_scale():
  config = app.parse_config(["--flagfile=distill.flags", "--flagfile=paper.flags"])
  assert (config.rollout_batch_size, config.training_batch_size, config.num_simulations) == (1024, 4096, 32)
  assert (config.num_layers, config.num_heads, config.key_size, config.mlp_units) == (4, 4, 32, (256, 256))
  assert (config.learning_rate, config.num_iterations) == (1e-3, 800)
  assert config.workdir != app.parse_config(["--flagfile=distill.flags"]).workdir


def test_a_flag_file_line_that_is_no_config_field_is_refused(tmp_path):
  flag_file = tmp_path / "typo.flags"
  flag_file.write_text("--flagfile=distill.flags\n--num_simulation=4\n")
  with pytest.raises(flags.UnrecognizedFlagError, match="num_simulation"):
    app.parse_config([f"--flagfile={flag_file}"])


@pytest.mark.slow
def test_the_paper_overlay_trains_one_iteration_with_its_network_and_search():
  """paper.flags' network, search and schedule: one collection and one update, run for real as
  run.py runs them (the distillation trainer's programs under pmap over every device), with the
  batches cut to a CPU's size. The evaluation and the checkpoints are the same code at every size
  and are run end to end by the tiny runs of the other test files."""
  import jax
  import numpy as np
  from purepi.cli import train
  from purepi.devices import AXIS_NAME, all_devices, per_device_keys, replicate, unreplicate
  from purepi.env.make import make_env
  from purepi.networks import make_network
  config = app.parse_config(["--flagfile=distill.flags", "--flagfile=paper.flags",
                             "--rollout_batch_size=2", "--training_batch_size=8"])
  devices = all_devices()
  env, network = make_env(config), make_network(config)
  algorithm = train.ALGORITHMS["distill"](config, env, network)
  collect = jax.pmap(algorithm.collect, axis_name=AXIS_NAME, devices=devices)
  update = jax.pmap(algorithm.update, axis_name=AXIS_NAME, devices=devices)
  initial = replicate(algorithm.init(jax.random.PRNGKey(0)), devices)
  batch, collected = collect(initial, per_device_keys(jax.random.PRNGKey(1), devices))
  trained, learned = update(initial, batch, per_device_keys(jax.random.PRNGKey(2), devices))
  collected, learned = unreplicate(collected), unreplicate(learned)

  params = unreplicate(initial).params["params"]
  assert sum(name.startswith("ems_self_attention_") for name in params) == config.num_layers == 4
  assert params["ems_embedding"]["kernel"].shape == (6, config.num_heads * config.key_size) == (6, 128)
  # Every searched decision has a target over the 800 actions; both losses are finite.
  assert batch.action_weights.shape[-1] == config.obs_num_ems * config.max_num_items
  assert int(collected["search_decisions"]) == int(np.sum(batch.valid)) > 0
  for name in ("loss", "policy_loss", "value_loss"):
    assert np.isfinite(learned[name]), name
  before, after = jax.tree.leaves(unreplicate(initial).params), jax.tree.leaves(unreplicate(trained).params)
  assert any(not np.array_equal(old, new) for old, new in zip(before, after))
