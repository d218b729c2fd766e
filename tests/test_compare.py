"""`--mode=compare` on tiny synthetic workdirs that follow the workdir contract."""
import dataclasses
import json
import os

import numpy as np
import pytest

from purepi.cli.evaluate import compare_main
from purepi.evaluation import compare, runs
from purepi.evaluation.protocol import mean_with_t_interval, t_quantile_975
from purepi.config import Config

BASELINES = {
    "random": {"mean": 0.57, "ci95": 0.006, "perfect_fraction": 0.0},
    "largest_item_deepest_bottom_left": {"mean": 0.86, "ci95": 0.005, "perfect_fraction": 0.08},
    "tightest_fit": {"mean": 0.87, "ci95": 0.005, "perfect_fraction": 0.12},
}


def _write_workdir(path, mode, final_greedy, seconds_per_iteration, num_iterations=6,
                   eval_interval=2, with_baselines=True, **settings):
  path.mkdir(parents=True)
  config = Config(mode=mode, workdir=str(path), num_iterations=num_iterations, **settings)
  (path / "config.json").write_text(json.dumps(dataclasses.asdict(config)))
  lines = []
  for iteration in range(1, num_iterations + 1):
    row = {"iteration": iteration, "wall_clock_s": seconds_per_iteration * iteration,
           "env_steps": 1000 * iteration, "decisions_per_s": 100.0 + iteration,
           "rollout_return": 0.5, "loss": 1.0, "policy_loss": 0.8, "value_loss": 0.2}
    if iteration % eval_interval == 0:
      greedy = final_greedy * iteration / num_iterations
      row.update(eval_greedy_utilization=greedy, eval_greedy_ci95=0.01,
                 eval_greedy_perfect_fraction=0.25, eval_greedy_items_placed=15.0,
                 eval_search_utilization=greedy + 0.02, eval_search_ci95=0.01,
                 eval_search_perfect_fraction=0.5, eval_search_items_placed=16.0)
    lines.append(json.dumps(row))
  (path / "metrics.jsonl").write_text("\n".join(lines) + "\n")
  if with_baselines:
    (path / "baselines.json").write_text(json.dumps(BASELINES))
  return str(path)


def _table_rows(table, label_start):
  return [[cell.strip() for cell in line.strip("|").split("|")]
          for line in table.splitlines() if line.startswith(f"| {label_start}")]


def test_compare_writes_plot_and_table_with_one_row_per_method(tmp_path):
  workdirs = (
      _write_workdir(tmp_path / "distill_0", "distill", 0.90, 10.0, seed=0),
      _write_workdir(tmp_path / "distill_1", "distill", 0.94, 12.0, seed=1),
      _write_workdir(tmp_path / "distill_2", "distill", 0.95, 11.0, seed=2),
      _write_workdir(tmp_path / "ppo_0", "ppo", 0.80, 5.0, with_baselines=False),
  )
  out = tmp_path / "comparison"
  compare_main(Config(mode="compare", workdir=str(out), workdirs=workdirs))

  png = (out / "comparison.png").read_bytes()
  assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
  table = (out / "comparison.md").read_text()
  (distill_cells,), (ppo_cells,) = _table_rows(table, "distill"), _table_rows(table, "ppo")
  # Three seeds: mean over seeds and the 95% Student-t half-width, t_0.975(2) = 4.3027.
  values = [0.90, 0.94, 0.95]
  t_interval = 4.3027 * np.std(values, ddof=1) / np.sqrt(3)
  assert distill_cells[:4] == ["distill", "3", f"{np.mean(values):.4f} ± {t_interval:.4f}", "0.0100"]
  assert distill_cells[6:] == ["25.0% / 50.0%", "15.00 / 16.00", "66", "6000", "103.5"]
  # One seed: its value alone, the per-instance interval beside it.
  assert ppo_cells[:6] == ["ppo", "1", "0.8000", "0.0100", "0.8200", "0.0100"]
  assert "| tightest fit | 0.8700 ± 0.0050 | 12.0% | n/a |" in table
  record = json.loads((out / "comparison.json").read_text())
  distill_group, ppo_group = record["groups"]
  assert (distill_group["label"], distill_group["seeds"]) == ("distill", 3)
  assert distill_group["greedy"]["values"] == pytest.approx(values)
  assert distill_group["greedy"]["t_interval"] == pytest.approx(t_interval)
  assert ppo_group["workdirs"] == [workdirs[3]] and record["baselines"] == BASELINES


def test_a_run_named_twice_counts_once_and_seed_directories_expand(tmp_path, monkeypatch):
  for seed in (0, 1):
    _write_workdir(tmp_path / "multi" / f"seed_{seed}", "distill", 0.9 + 0.01 * seed, 10.0, seed=seed)
  monkeypatch.chdir(tmp_path)
  workdirs = (str(tmp_path / "multi"), "multi/seed_1", "multi/./seed_0/")
  assert [os.path.realpath(run) for run in runs.run_workdirs(workdirs)] == [
      str((tmp_path / "multi" / f"seed_{seed}").resolve()) for seed in (0, 1)]
  markdown, _, _ = compare.write_comparison(workdirs, str(tmp_path / "out"))
  assert _table_rows(markdown, "distill")[0][1] == "2"


def test_settings_other_than_the_seed_make_separate_rows(tmp_path):
  workdirs = (_write_workdir(tmp_path / "a", "distill", 0.9, 10.0, policy_target="improved"),
              _write_workdir(tmp_path / "b", "distill", 0.8, 10.0, policy_target="visits"),
              _write_workdir(tmp_path / "c", "ppo", 0.85, 10.0))
  markdown, _, _ = compare.write_comparison(workdirs, str(tmp_path / "out"))
  labels = [row[0] for row in _table_rows(markdown, "distill") + _table_rows(markdown, "ppo")]
  assert labels == ["distill (policy_target=improved)", "distill (policy_target=visits)", "ppo"]


def test_a_setting_missing_from_an_older_config_counts_as_its_default(tmp_path):
  older = _write_workdir(tmp_path / "older" / "seed_0", "distill", 0.9, 10.0, seed=0)
  settings = json.loads((tmp_path / "older" / "seed_0" / "config.json").read_text())
  del settings["rotations"]
  (tmp_path / "older" / "seed_0" / "config.json").write_text(json.dumps(settings))
  newer = _write_workdir(tmp_path / "newer", "distill", 0.8, 10.0, seed=1, rotations="none")
  other = _write_workdir(tmp_path / "other", "distill", 0.7, 10.0, rotations="all")
  groups = runs.group_runs(runs.Run(workdir) for workdir in (older, newer, other))
  assert list(groups) == ["distill (rotations=none)", "distill (rotations=all)"]
  assert [run.workdir for run in groups["distill (rotations=none)"]] == [older, newer]


def test_runs_that_differ_only_in_their_iteration_count_are_two_methods(tmp_path):
  shorter = [_write_workdir(tmp_path / "short" / f"seed_{seed}", "ppo", 0.90, 4.0, seed=seed,
                            learning_rate_schedule="constant") for seed in (0, 1)]
  longer = _write_workdir(tmp_path / "long" / "seed_0", "ppo", 0.91, 4.0, seed=0,
                          learning_rate_schedule="constant", num_iterations=8)
  groups = runs.group_runs(runs.Run(workdir) for workdir in shorter + [longer])
  assert list(groups) == ["ppo (num_iterations=6)", "ppo (num_iterations=8)"]
  assert [run.workdir for run in groups["ppo (num_iterations=6)"]] == shorter


def test_settings_a_trainer_never_reads_do_not_split_its_runs(tmp_path):
  # PPO collects without search: runs made beside distill.flags' 8- and 16-simulation
  # versions are one PPO method; for distillation the simulations make two.
  ppo_runs = [_write_workdir(tmp_path / "ppo" / f"seed_{seed}", "ppo", 0.90, 4.0, seed=seed,
                             num_simulations=simulations) for seed, simulations in ((0, 8), (1, 16))]
  distill_runs = [_write_workdir(tmp_path / "distill" / f"seed_{seed}", "distill", 0.92, 9.0,
                                 seed=seed, num_simulations=simulations, clip_eps=clip_eps)
                  for seed, simulations, clip_eps in ((0, 8, 0.1), (1, 16, 0.2))]
  groups = runs.group_runs(runs.Run(workdir) for workdir in ppo_runs + distill_runs)
  assert list(groups) == ["ppo", "distill (num_simulations=8)", "distill (num_simulations=16)"]
  assert [run.workdir for run in groups["ppo"]] == ppo_runs


def test_t_interval_over_seeds():
  mean, half_width = mean_with_t_interval([0.90, 0.92, 0.97])
  assert np.isclose(mean, 0.93)
  assert np.isclose(half_width, 4.3027 * np.std([0.90, 0.92, 0.97], ddof=1) / np.sqrt(3))
  assert np.isnan(mean_with_t_interval([0.9])[1])
  # Beyond the table the series is within 1e-3 of the t quantile, and tends to 1.96.
  assert abs(t_quantile_975(40) - 2.0211) < 1e-3 and abs(t_quantile_975(10_000) - 1.96) < 1e-3


def test_resumed_run_keeps_the_last_row_of_a_repeated_iteration(tmp_path):
  workdir = _write_workdir(tmp_path / "run", "distill", 0.9, 10.0)
  with open(f"{workdir}/metrics.jsonl", "a") as file:  # A resume that redid iteration 6.
    file.write(json.dumps({"iteration": 6, "wall_clock_s": 70.0, "env_steps": 6000,
                           "decisions_per_s": 1.0, "eval_greedy_utilization": 0.95,
                           "eval_greedy_ci95": 0.01}) + "\n")
  run = runs.Run(workdir)
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
    runs.Run(workdir)
