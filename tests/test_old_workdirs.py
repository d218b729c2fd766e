"""A workdir written by an earlier purepi still resumes and evaluates.

`tests/data/workdir_v0` was written by main at 3000203 (before the layout
change), one iteration of a tiny configuration:

  python run.py --max_num_items=5 --obs_num_ems=6 --max_num_ems=6 --num_layers=1 --num_heads=2 \\
    --key_size=4 --mlp_units=8 --rollout_batch_size=4 --training_batch_size=8 --num_simulations=2 \\
    --max_num_considered_actions=2 --eval_num_episodes=4 --eval_num_simulations=2 --eval_interval=1 \\
    --save_interval=1 --num_renders=0 --num_iterations=1 --progress=false --workdir=/tmp/workdir_v0

Settings added to `Config` since then take their defaults when such a
config.json is read, so these defaults must keep the old behaviour, or take
the value of the setting the workdir used in their place (`ADDED_FIELDS`), or
the one value every workdir before them ran with (`FORMER_VALUES`).
"""
import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from purepi.cli import evaluate, train
from purepi.training import workdir as workdir_lib

pytestmark = pytest.mark.slow  # the fast tier leaves this file out (README, "Tests")

OLD_WORKDIR = Path(__file__).parent / "data" / "workdir_v0"


def _copy(tmp_path):
  workdir = tmp_path / "moved_here"
  shutil.copytree(OLD_WORKDIR, workdir)
  return workdir


def test_an_old_workdir_evaluates_with_the_search_it_was_evaluated_with():
  assert "eval_max_num_considered_actions" not in json.loads((OLD_WORKDIR / "config.json").read_text())
  stored = workdir_lib.load_config(OLD_WORKDIR / "config.json")
  assert stored.eval_max_num_considered_actions == stored.max_num_considered_actions == 2


def test_a_workdir_from_before_the_evaluation_value_scale_evaluates_with_its_training_value_scale(tmp_path):
  """Until --eval_search_value_scale existed, --search_value_scale set the evaluation's c_scale too."""
  values = json.loads((OLD_WORKDIR / "config.json").read_text())
  assert "eval_search_value_scale" not in values
  path = tmp_path / "config.json"
  path.write_text(json.dumps(dict(values, search_value_scale=0.5)))
  assert workdir_lib.load_config(path).eval_search_value_scale == 0.5
  assert workdir_lib.load_config(OLD_WORKDIR / "config.json").eval_search_value_scale == 0.1


def test_an_old_workdir_keeps_its_sum_pooled_value_head():
  assert "value_pooling" not in json.loads((OLD_WORKDIR / "config.json").read_text())
  assert workdir_lib.load_config(OLD_WORKDIR / "config.json").value_pooling == "sum"


def test_an_old_workdir_resumes_where_it_stopped(tmp_path, capsys):
  workdir = _copy(tmp_path)
  stored = workdir_lib.load_config(workdir / "config.json")
  train.main(dataclasses.replace(stored, workdir=str(workdir), num_iterations=2))
  assert "Resuming" in capsys.readouterr().out
  records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  assert [record["iteration"] for record in records] == [1, 2]
  assert records[1]["env_steps"] > records[0]["env_steps"]
  assert "eval_greedy_utilization" in records[1]


def test_an_old_workdir_evaluates(tmp_path, capsys):
  workdir = _copy(tmp_path)
  stored = workdir_lib.load_config(workdir / "config.json")
  evaluate.eval_main(dataclasses.replace(stored, mode="eval", checkpoint=str(workdir),
                                         workdir=str(tmp_path / "eval")))
  assert "network, greedy" in capsys.readouterr().out
