"""EMS slots sized to the load, and episodes whose EMSs overflow their slots counted and reported."""
import csv
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purepi import config as config_lib
from purepi import planner
from purepi.cli import settings
from purepi.env.ems import update_ems
from purepi.env.orlib import read_problems
from purepi.env.space import Space
from purepi.evaluation.protocol import overflow_warning

ROOT = Path(__file__).parent.parent
BR12_FIRST = read_problems(ROOT / "third_party_parity" / "benchmarks" / "br" / "br12.txt")[0]  # 136 boxes


def test_lost_ems_are_those_more_slots_would_keep():
  """On random EMS sets in 8 slots (a 5-unit grid: equal and nested EMSs are common), the EMSs lost
  are the ones the same update keeps in 64 slots."""
  few, many, grid = 8, 64, 5

  def random_boxes(key, shape):
    corners = jax.random.randint(key, (2, 3) + shape, 0, grid + 1)
    lower, upper = jnp.minimum(corners[0], corners[1]), jnp.maximum(corners[0], corners[1])
    return Space(x1=lower[0], x2=upper[0], y1=lower[1], y2=upper[1], z1=lower[2], z2=upper[2])

  def one_case(key):
    ems_key, mask_key, item_key = jax.random.split(key, 3)
    ems = random_boxes(ems_key, (few,))
    ems_mask = jax.random.bernoulli(mask_key, 0.8, (few,))
    item = random_boxes(item_key, ())
    item = item.replace(x2=item.x2 + 1, y2=item.y2 + 1, z2=item.z2 + 1)
    _, kept_in_few, lost_in_few = update_ems(ems, ems_mask, item)
    padded = ems.map(lambda coord: jnp.pad(coord, (0, many - few)))
    _, kept_in_many, lost_in_many = update_ems(padded, jnp.pad(ems_mask, (0, many - few)), item)
    return jnp.sum(kept_in_few), lost_in_few, jnp.sum(kept_in_many), lost_in_many

  kept_in_few, lost_in_few, kept_in_many, lost_in_many = jax.jit(jax.vmap(one_case))(
      jax.random.split(jax.random.PRNGKey(5), 2000))
  assert not np.any(lost_in_many)
  np.testing.assert_array_equal(lost_in_few, kept_in_many - kept_in_few)
  assert np.sum(lost_in_few > 0) > 100  # the slots did overflow, often


def test_measuring_modes_size_the_slots_on_a_load_or_above_the_trained_size():
  sized = lambda mode, **fields: settings.sized_for_load(config_lib.Config(mode=mode, **fields), 20)
  assert sized("pack") and sized("baselines", csv_path="load.csv") and sized("eval", max_num_items=50)
  assert not sized("baselines") and not sized("render", max_num_items=20) and not sized("inspect", csv_path="a.csv")
  at_100 = planner.sized_for_load(config_lib.Config(mode="eval", max_num_items=100), given=["max_num_items"])
  assert (at_100.max_num_items, at_100.max_num_ems, at_100.obs_num_ems) == (
      100, planner.ems_slots(100), planner.OBSERVED_EMS_PER_ITEM * 100)


def test_the_overflow_warning_names_the_slots_the_counts_and_a_size_that_holds_the_load():
  config = config_lib.Config(max_num_items=136, max_num_ems=40)
  assert overflow_warning(config, {"random": 0, "tightest_fit": 0}, 16) == ""
  warning = overflow_warning(config, {"random": 3, "tightest_fit": 12}, 16)
  assert warning.startswith("warning: EMSs overflowed their 40 slots in 12 of 16 episodes (random 3, tightest_fit 12)")
  assert warning.endswith(f"--max_num_ems={planner.ems_slots(136)} holds them")


def run_baselines(tmp_path, *arguments):
  load = tmp_path / "br12_1.csv"
  with load.open("w", newline="") as file:
    writer = csv.writer(file)
    writer.writerow(["Item_Name", "Length", "Width", "Height", "Quantity"])
    writer.writerows(row[:5] for row in BR12_FIRST.rows)
  result = subprocess.run(
      [sys.executable, "run.py", "--mode=baselines", f"--csv_path={load}", "--eval_num_episodes=2",
       f"--container_dims={','.join(map(str, BR12_FIRST.container))}", *arguments],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr
  rows = [line.split() for line in result.stdout.splitlines() if line.startswith(("largest", "tightest"))]
  assert len(rows) == 2, result.stdout
  # name, utilization, ±, its interval, perfect, items, overflowed, ...
  return result, {row[0]: (float(row[1]), int(row[6])) for row in rows}


@pytest.mark.slow
def test_baselines_on_a_large_load_get_pack_s_slots_and_lose_no_ems(tmp_path):
  result, rows = run_baselines(tmp_path)
  assert f"136 items, {planner.ems_slots(136)} EMS slots, 272 observed" in result.stdout
  assert all(utilization > 0.8 and overflowed == 0 for utilization, overflowed in rows.values()), rows
  assert "warning" not in result.stderr


@pytest.mark.slow
def test_baselines_in_too_few_slots_count_the_overflowed_episodes_and_warn(tmp_path):
  result, rows = run_baselines(tmp_path, "--max_num_ems=40")
  assert all(utilization < 0.6 and overflowed == 2 for utilization, overflowed in rows.values()), rows
  warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
  assert len(warnings) == 1 and "overflowed their 40 slots in 2 of 2 episodes" in warnings[0]
  assert warnings[0].endswith(f"--max_num_ems={planner.ems_slots(136)} holds them")
