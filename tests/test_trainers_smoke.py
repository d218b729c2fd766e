"""One iteration of each trainer, end to end as `run.py` runs it: the fast tier's check of the trainers.

The fast tier (`pytest -m "not slow"`) leaves out the longer runs of
test_distill.py and test_ppo.py (two iterations, then a resumed one) and the
faults of test_faults.py; this file keeps one collection, one update, one
evaluation, the heuristics and a checkpoint of each trainer in it.
"""
import dataclasses
import json

import numpy as np
import pytest

from tests import test_distill, test_ppo
from tests.trainer_runs import run_and_read_metrics


@pytest.mark.parametrize("config", [test_distill.TINY, test_ppo.TINY], ids=["distill", "ppo"])
def test_one_iteration_trains_evaluates_and_checkpoints(config, tmp_path, capsys):
  (record,) = run_and_read_metrics(dataclasses.replace(config, num_renders=0), tmp_path, num_iterations=1)
  # The run's end says, in one warning line, how many held-out episodes lost EMSs to full slots.
  baselines = json.loads((tmp_path / "baselines.json").read_text())
  overflowed = [record["eval_greedy_overflowed_episodes"], record["eval_search_overflowed_episodes"],
                *(row["overflowed_episodes"] for row in baselines.values())]
  warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: EMSs overflowed")]
  assert len(warnings) == (max(overflowed) > 0), (overflowed, warnings)
  assert record["iteration"] == 1 and record["env_steps"] > 0
  for name in ("loss", "policy_loss", "value_loss", "eval_greedy_utilization", "eval_search_utilization"):
    assert np.isfinite(record[name]), name
  assert 0 < record["eval_greedy_utilization"] <= 1
  assert json.loads((tmp_path / "config.json").read_text())["mode"] == config.mode
  assert (tmp_path / "baselines.json").exists() and (tmp_path / "checkpoints" / "1").is_dir()
