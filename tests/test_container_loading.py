"""The container-loading benchmark's own path, on one Bischoff-Ratcliff problem, as its command runs it."""
import json
from pathlib import Path

import pytest

from purepi.env.orlib import read_problems
from third_party_parity.benchmarks import container_loading
from third_party_parity.benchmarks.__main__ import make_parser

TRAINED = Path(__file__).parent / "data" / "workdir_v0"
SMALLEST = (1, 58)  # BR1 problem 58: 92 boxes of 3 types, the fewest of problems 51-60 of BR1


def test_problem_numbers_parse():
  assert container_loading.parse_problems("51-53,60") == [51, 52, 53, 60]


def test_py3dbp_keeps_only_supported_boxes_under_a_support_rule():
  problem = read_problems(container_loading.BR_DIRECTORY / f"br{SMALLEST[0]}.txt")[SMALLEST[1] - 1]
  anywhere, _ = container_loading.py3dbp_plan(problem, 0.0)
  supported, _ = container_loading.py3dbp_plan(problem, 1.0)
  assert 0 < supported <= anywhere <= 1


@pytest.mark.slow
def test_the_benchmark_writes_its_tables_and_picture_and_continues_where_it_stopped(tmp_path):
  arguments = ["container_loading", f"--classes={SMALLEST[0]}", f"--problems={SMALLEST[1]}", "--supports=1",
               "--time_limit=1", f"--checkpoint={TRAINED}", f"--out={tmp_path}"]
  container_loading.bench_container_loading(make_parser().parse_args(arguments))
  records = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
  assert len(records) == 1
  record = records[0]
  assert record["anytime"]["utilization"] >= record["best heuristic"]["utilization"] > 0
  assert 0 < record["py3dbp"]["utilization"] <= 1 and record["boxes"] == 92
  assert "| BR1 | 58-58 (1) | 92 |" in (tmp_path / "tables.md").read_text()
  assert (tmp_path / "summary.md").read_text().startswith("| class | anytime, full support")
  assert (tmp_path / "container_loading.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  container_loading.bench_container_loading(make_parser().parse_args(arguments))  # nothing left to do
  assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 1
