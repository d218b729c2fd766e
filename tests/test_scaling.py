"""`--mode=compare` on runs of each method at several budgets: budgets.png and budgets.md."""
from purepi.cli.evaluate import compare_main
from purepi.config import Config
from purepi.evaluation import compare, scaling
from tests.test_compare import _table_rows, _write_workdir


def _budget_runs(root):
  """Distillation at 1x (2 seeds), 2x and 4x; PPO at 1x and 4x; one distillation ablation at 1x."""
  workdirs = []
  for budget, seeds, greedy in ((1, (0, 1), 0.90), (2, (0,), 0.92), (4, (0, 1), 0.94)):
    for seed in seeds:
      workdirs.append(_write_workdir(root / f"distill_{budget}x_{seed}", "distill", greedy + 0.01 * seed,
                                     10.0 if budget == 1 else 25.0, num_iterations=6 * budget,
                                     budget=float(budget), seed=seed))
  for budget, greedy in ((1, 0.88), (4, 0.90)):
    workdirs.append(_write_workdir(root / f"ppo_{budget}x", "ppo", greedy, 5.0, num_iterations=12 * budget,
                                   budget=float(budget)))
  workdirs.append(_write_workdir(root / "distill_wide", "distill", 0.91, 10.0, num_heads=8))
  return workdirs


def test_each_method_is_a_line_through_its_budgets_with_wall_clock_from_the_smallest(tmp_path):
  groups, _, _ = compare.read_runs(_budget_runs(tmp_path))
  methods = scaling.budget_points(groups)
  assert list(methods) == ["distill", "ppo"]  # the ablation has one budget: not a line
  assert [budget for budget, _ in methods["distill"]] == [1.0, 2.0, 4.0]
  # 1x: 6 iterations of 10 s; the longer runs shared the machine (25 s an iteration measured).
  assert scaling.scaled_wall_clock(methods["distill"]) == [60.0, 120.0, 240.0]
  rows = _table_rows("\n".join(scaling.budget_table_lines(methods)), "search distillation")
  assert [row[1:4] for row in rows] == [["1x", "6", "2"], ["2x", "12", "1"], ["4x", "24", "2"]]
  assert rows[2][4].startswith("0.9450 ± ") and rows[1][4] == "0.9200"
  assert [row[6:] for row in rows] == [["1.0", "1.0"], ["5.0", "2.0"], ["10.0", "4.0"]]


def test_compare_writes_the_budget_picture_and_table_only_when_a_method_has_several(tmp_path):
  out = tmp_path / "out"
  compare_main(Config(mode="compare", workdir=str(out), workdirs=tuple(_budget_runs(tmp_path / "runs"))))
  assert (out / "budgets.png").read_bytes()[:4] == b"\x89PNG"
  assert "| PPO | 4x | 48 | 1 | 0.9000 |" in (out / "budgets.md").read_text()
  single = tmp_path / "single"
  compare_main(Config(mode="compare", workdir=str(single), workdirs=(str(tmp_path / "runs" / "ppo_1x"),)))
  assert (single / "comparison.md").exists() and not (single / "budgets.md").exists()


def _row(values, t_interval):
  policy_row = {"values": values, "mean": sum(values) / len(values), "t_interval": t_interval}
  return {"greedy": policy_row, "search": dict(policy_row, mean=policy_row["mean"] + 0.05)}


def test_the_gap_line_says_whether_the_intervals_over_seeds_lie_apart():
  methods = {"distill": [(1.0, _row([0.91, 0.92, 0.93], 0.02)), (2.0, _row([0.92], float("nan"))),
                         (4.0, _row([0.95, 0.96, 0.97], 0.01))],
             "ppo": [(1.0, _row([0.90, 0.91, 0.92], 0.02)), (4.0, _row([0.90, 0.91, 0.92], 0.01))]}
  line, = scaling.budget_gap_lines(methods)
  assert line == ("Distillation minus PPO, means over seeds: 1x: greedy +0.0100 (intervals overlap), "
                  "search +0.0100 (intervals overlap); 4x: greedy +0.0500 (intervals apart), "
                  "search +0.0500 (intervals apart).")  # 2x: PPO has no run there
  methods["ppo"][1] = (4.0, _row([0.91], float("nan")))
  assert "4x: greedy +0.0500 (one seed)" in scaling.budget_gap_lines(methods)[0]
  assert scaling.budget_gap_lines({"distill": methods["distill"]}) == []
