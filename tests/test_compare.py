"""`--mode=compare` on tiny synthetic workdirs that follow the workdir contract."""
import dataclasses
import json

import numpy as np
import pytest

from purepi.cli.evaluate import compare_main
from purepi.evaluation import compare
from purepi.config import Config

BASELINES = {
    "random": {"mean": 0.57, "ci95": 0.006, "perfect_fraction": 0.0},
    "largest_item_deepest_bottom_left": {"mean": 0.86, "ci95": 0.005, "perfect_fraction": 0.08},
    "tightest_fit": {"mean": 0.87, "ci95": 0.005, "perfect_fraction": 0.12},
}


def _write_workdir(path, mode, final_greedy, seconds_per_iteration, num_iterations=6,
                   eval_interval=2, with_baselines=True):
  path.mkdir()
  (path / "config.json").write_text(json.dumps(dataclasses.asdict(Config(mode=mode, workdir=str(path)))))
  lines = []
  for iteration in range(1, num_iterations + 1):
    row = {"iteration": iteration, "wall_clock_s": seconds_per_iteration * iteration,
           "env_steps": 1000 * iteration, "decisions_per_s": 100.0 + iteration,
           "rollout_return": 0.5, "loss": 1.0, "policy_loss": 0.8, "value_loss": 0.2}
    if iteration % eval_interval == 0:
      greedy = final_greedy * iteration / num_iterations
      row.update(eval_greedy_utilization=greedy, eval_greedy_ci95=0.01,
                 eval_search_utilization=greedy + 0.02, eval_search_ci95=0.01)
    lines.append(json.dumps(row))
  (path / "metrics.jsonl").write_text("\n".join(lines) + "\n")
  if with_baselines:
    (path / "baselines.json").write_text(json.dumps(BASELINES))
  return str(path)


def test_compare_writes_plot_and_table_with_one_row_per_method(tmp_path):
  workdirs = (
      _write_workdir(tmp_path / "distill_0", "distill", 0.90, 10.0),
      _write_workdir(tmp_path / "distill_1", "distill", 0.94, 12.0),
      _write_workdir(tmp_path / "ppo_0", "ppo", 0.80, 5.0, with_baselines=False),
  )
  out = tmp_path / "comparison"
  compare_main(Config(mode="compare", workdir=str(out), workdirs=workdirs))

  png = (out / "comparison.png").read_bytes()
  assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
  table = (out / "comparison.md").read_text()
  method_rows = [line for line in table.splitlines() if line.startswith("| distill") or line.startswith("| ppo")]
  assert len(method_rows) == 2
  distill_cells = [cell.strip() for cell in method_rows[0].strip("|").split("|")]
  ppo_cells = [cell.strip() for cell in method_rows[1].strip("|").split("|")]
  # Two seeds: mean over seeds, CI over seeds, min-max in brackets.
  mean, ci95 = np.mean([0.90, 0.94]), 1.96 * np.std([0.90, 0.94], ddof=1) / np.sqrt(2)
  assert distill_cells[:3] == ["distill", "2", f"{mean:.4f} ± {ci95:.4f} (0.9000–0.9400)"]
  assert distill_cells[4:] == ["66", "6000", "103.5"]
  # One seed: the instance CI from its last evaluation row.
  assert ppo_cells[:4] == ["ppo", "1", "0.8000 ± 0.0100", "0.8200 ± 0.0100"]
  assert "| tightest fit | 0.8700 ± 0.0050 |" in table


def test_resumed_run_keeps_the_last_row_of_a_repeated_iteration(tmp_path):
  workdir = _write_workdir(tmp_path / "run", "distill", 0.9, 10.0)
  with open(f"{workdir}/metrics.jsonl", "a") as file:  # A resume that redid iteration 6.
    file.write(json.dumps({"iteration": 6, "wall_clock_s": 70.0, "env_steps": 6000,
                           "decisions_per_s": 1.0, "eval_greedy_utilization": 0.95,
                           "eval_greedy_ci95": 0.01}) + "\n")
  run = compare.Run(workdir)
  assert [row["iteration"] for row in run.rows] == [1, 2, 3, 4, 5, 6]
  assert run.eval_rows[-1]["eval_greedy_utilization"] == 0.95


def test_seed_band_interpolates_over_the_shared_range():
  curves = [(np.array([0.0, 10.0]), np.array([0.0, 1.0])),
            (np.array([5.0, 20.0]), np.array([0.5, 0.5]))]
  grid, mean, low, high = compare.seed_band(curves)
  assert grid[0] == 5.0 and grid[-1] == 10.0
  np.testing.assert_allclose(mean[[0, -1]], [0.5, 0.75])
  np.testing.assert_allclose(low[[0, -1]], [0.5, 0.5])
  np.testing.assert_allclose(high[[0, -1]], [0.5, 1.0])


def test_workdir_without_metrics_is_a_clear_error(tmp_path):
  (tmp_path / "empty").mkdir()
  (tmp_path / "empty" / "config.json").write_text(json.dumps({"mode": "ppo"}))
  with pytest.raises(ValueError, match="metrics.jsonl does not exist"):
    compare_main(Config(mode="compare", workdir=str(tmp_path / "out"),
                        workdirs=(str(tmp_path / "empty"),)))


def test_workdir_without_evaluation_rows_is_a_clear_error(tmp_path):
  workdir = _write_workdir(tmp_path / "early", "distill", 0.9, 10.0, num_iterations=1)
  with pytest.raises(ValueError, match="no evaluation rows"):
    compare_main(Config(mode="compare", workdir=str(tmp_path / "out"), workdirs=(workdir,)))


def test_malformed_metrics_line_names_the_line(tmp_path):
  workdir = _write_workdir(tmp_path / "bad", "distill", 0.9, 10.0)
  with open(f"{workdir}/metrics.jsonl", "a") as file:
    file.write("{not json\n")
  with pytest.raises(ValueError, match="line 7: not valid JSON"):
    compare.Run(workdir)
