"""third_party_parity/benchmarks/gpu_check.py, the check prepared for a lent GPU, along its CPU path with tiny sizes."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECK = "third_party_parity.benchmarks.gpu_check"


@pytest.mark.slow
def test_the_gpu_check_measures_trains_and_reports_in_one_last_line(tmp_path, subprocess_environment):
  result = subprocess.run([sys.executable, "-m", CHECK, "--tiny", "--minutes=0.005",
                           f"--workdir={tmp_path / 'check'}"], cwd=ROOT, env=subprocess_environment,
                          capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr
  last = result.stdout.strip().splitlines()[-1]
  assert re.fullmatch(r"gpu check: collection [\d,]+ decisions/s at paper scale; after \d+ iterations "
                      r"\([\d.]+ min of training\): held-out greedy [01]\.\d{4}, search [01]\.\d{4}; "
                      r"[\d.]+ min in all", last), last


def test_a_training_time_that_is_not_positive_is_refused():
  result = subprocess.run([sys.executable, "-m", CHECK, "--minutes=0"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
  assert result.returncode == 2 and "--minutes must be positive, got 0.0" in result.stderr
