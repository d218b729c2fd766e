"""Loads larger than any training instance: a network trained on 5 items packs 100, from Python and
from the command line; an exported network packs as its workdir does; too large a load is refused."""
import dataclasses
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import purepi
from purepi import planner
from purepi.errors import UsageError
from purepi.env.make import make_env
from purepi.training.trained_networks import export_network, load_params
from tests import plan_checks

ROOT = Path(__file__).resolve().parent.parent
TRAINED = ROOT / "tests" / "data" / "workdir_v0"  # a tiny trained run, max_num_items=5
# 100 items of 8 kinds, about 80% of a 20-foot container's volume.
KINDS = [("carton", 600, 400, 400, 30), ("tall carton", 600, 400, 800, 20), ("drum", 600, 600, 900, 10),
         ("crate", 1200, 800, 700, 12), ("flat box", 1000, 1000, 200, 10), ("long box", 2000, 400, 400, 8),
         ("small crate", 800, 600, 500, 6), ("cube", 500, 500, 500, 4)]


@pytest.fixture(scope="module")
def hundred_item_plan():
  return purepi.pack(KINDS, checkpoint=TRAINED, policy="search")


@pytest.mark.slow
def test_100_items_give_a_valid_plan_that_names_every_item(hundred_item_plan):
  plan = hundred_item_plan
  assert sum(kind[-1] for kind in KINDS) == 100
  named = sorted((p.name, p.copy) for p in plan.placements + plan.unplaced)
  assert named == sorted((name, copy) for name, *_, quantity in KINDS for copy in range(1, quantity + 1))
  assert len(plan.placements) > 20, "more items placed than the network was trained on"
  plan_checks.check_items_lie_in_the_container_and_never_overlap(plan)
  config = planner.sized_for_load(dataclasses.replace(load_params(str(TRAINED))[1], mode="pack"), KINDS)
  assert (config.max_num_items, config.max_num_ems, config.obs_num_ems) == (100, 600, 200)
  plan_checks.check_replaying_the_rows_reproduces_the_utilization(plan, make_env(config, KINDS))


@pytest.mark.slow
def test_rows_and_the_same_csv_give_the_same_plan(tmp_path):
  rows = KINDS[:3]
  path = tmp_path / "load.csv"
  path.write_text("Item_Name,Length,Width,Height,Quantity\n" + "".join(
      f"{name},{length},{width},{height},{quantity}\n" for name, length, width, height, quantity in rows))
  from_rows = purepi.pack(rows, checkpoint=TRAINED, policy="greedy")
  assert from_rows == purepi.pack(str(path), checkpoint=TRAINED, policy="greedy")
  assert from_rows.policy == "greedy network"


@pytest.mark.parametrize("items, problem", [
    ([("box", 100, 100, 100)], "item 1: expected (Item_Name, Length, Width, Height, Quantity[, Rotation])"),
    ([("box", 100, 100, 100, 1), ("box", 100, "wide", 100, 1)], "item 2: Width of 'box' must be an integer"),
    ([("box", 100, 100, 0, 1)], "item 1: Height of 'box' must be positive, got 0"),
    ([("mast", 9000, 100, 100, 1)], "item 1: Length 9000 of 'mast' exceeds the container's 5870 mm"),
    ([], "items: no items listed"),
])
def test_bad_rows_are_one_usage_error_naming_the_row(items, problem):
  with pytest.raises(UsageError) as error:
    purepi.pack(items, checkpoint=TRAINED)
  assert str(error.value).startswith(problem) and "\n" not in str(error.value)


def test_a_container_smaller_than_every_item_is_refused():
  with pytest.raises(UsageError, match="item 1: Length 600 of 'carton' exceeds the container's 500 mm"):
    purepi.pack(KINDS, container_dims=(500, 500, 500), checkpoint=TRAINED)


def test_an_unknown_policy_is_refused():
  with pytest.raises(UsageError, match="policy='best' is not one of anytime, search, greedy"):
    purepi.pack(KINDS, checkpoint=TRAINED, policy="best")


@pytest.mark.slow
def test_an_exported_network_packs_as_its_workdir_does(tmp_path):
  path = export_network(str(TRAINED), tmp_path / "network")
  assert path.stat().st_size < 2 ** 20 and (tmp_path / "network" / "config.json").is_file()
  exported, config = load_params(str(tmp_path / "network"))
  original, original_config = load_params(str(TRAINED))
  assert config == dataclasses.replace(original_config, workdir=TRAINED.name, checkpoint="")
  jax.tree.map(np.testing.assert_array_equal, exported, original)
  rows = KINDS[:2]
  assert (purepi.pack(rows, checkpoint=tmp_path / "network", policy="greedy")
          == purepi.pack(rows, checkpoint=TRAINED, policy="greedy"))


def run_py(*arguments, cwd=ROOT):
  return subprocess.run([sys.executable, str(ROOT / "run.py"), *arguments], capture_output=True, text=True,
                        cwd=cwd)


@pytest.mark.slow
def test_the_command_line_sizes_to_the_load_and_refuses_a_load_too_large_for_memory(tmp_path):
  load = tmp_path / "load.csv"
  load.write_text("Item_Name,Length,Width,Height,Quantity\nbox,500,400,300,25\ncrate,1200,800,900,10\n")
  result = run_py("--mode=pack", f"--csv_path={load}", f"--checkpoint={TRAINED}", "--pack_policy=greedy",
                  f"--workdir={tmp_path / 'plan'}", "--progress=false")
  assert result.returncode == 0, result.stderr
  assert "of 35 items" in result.stdout and (tmp_path / "plan" / "plan.csv").is_file()

  huge = tmp_path / "huge.csv"
  huge.write_text("Item_Name,Length,Width,Height,Quantity\nbox,10,10,10,10000\n")
  result = run_py("--mode=pack", f"--csv_path={huge}", f"--checkpoint={TRAINED}",
                  f"--workdir={tmp_path / 'huge_plan'}")
  assert result.returncode == 2
  message, = result.stderr.strip().splitlines()
  assert message.startswith("error: packing 10000 items (max_num_items=10000, max_num_ems=80000) needs about ")
  assert "GiB are available: at most about " in message and message.endswith("items fit, split the load")
  assert not list((tmp_path / "huge_plan").glob("plan*"))


@pytest.mark.slow
def test_export_mode_writes_the_network_and_needs_a_checkpoint(tmp_path):
  result = run_py("--mode=export", f"--workdir={tmp_path / 'network'}")
  assert result.returncode == 2 and result.stderr.strip() == "error: --mode=export needs --checkpoint=WORKDIR"
  result = run_py("--mode=export", f"--checkpoint={TRAINED}", f"--workdir={tmp_path / 'network'}")
  assert result.returncode == 0, result.stderr
  assert result.stdout.startswith(f"wrote {tmp_path / 'network' / 'params.msgpack'}")
  assert sorted(path.name for path in (tmp_path / "network").iterdir()) == ["config.json", "params.msgpack"]
  result = run_py("--mode=export", f"--checkpoint={TRAINED}", f"--workdir={tmp_path / 'again'}", "--seed=3")
  assert result.returncode == 2 and "--mode=export does not read --seed" in result.stderr
