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


def test_the_paper_overlay_trains_one_iteration_with_its_network_and_search(tmp_path):
  """paper.flags' network, search and schedule, run for real with the batches cut to a CPU's size."""
  from purepi.cli import train
  config = app.parse_config([
      "--flagfile=distill.flags", "--flagfile=paper.flags", f"--workdir={tmp_path / 'paper'}",
      "--num_iterations=1", "--rollout_batch_size=2", "--training_batch_size=8",
      "--eval_num_episodes=2", "--num_renders=0", "--progress=false"])
  records = train.main(config)
  assert [record["iteration"] for record in records] == [1]
  assert records[0]["search_decisions"] > 0
  for name in ("loss", "eval_greedy_utilization", "eval_search_utilization"):
    assert 0 <= records[0][name] < float("inf"), name
