"""`--mode=pack`: a load plan that replays, never overlaps, names what did not fit, and repeats."""
import csv
import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from purepi import planner
from purepi.cli import pack
from purepi.errors import UsageError
from purepi.env.make import MIN_EMS_SLOTS, make_env
from purepi.policies.load_plan import LoadPlan
from purepi.training import workdir as workdir_lib
from tests import plan_checks

TRAINED = Path(__file__).parent / "data" / "workdir_v0"  # a tiny trained run, max_num_items=5
# Six items: more volume than the 20-foot container holds, so some cannot fit.
CONTAINER_CSV = ("Item_Name,Length,Width,Height,Quantity\n"
                 "pallet,2935,2330,1100,2\nhalf pallet,2935,1165,1100,2\nlong crate,5870,1000,900,1\n")


@pytest.fixture(scope="module")
def plans(tmp_path_factory):
  """The search plan twice (same seed), and the greedy plan."""
  root = tmp_path_factory.mktemp("pack")
  (root / "load.csv").write_text(CONTAINER_CSV)
  config = dataclasses.replace(workdir_lib.load_config(TRAINED / "config.json"), mode="pack",
                               checkpoint=str(TRAINED), csv_path=str(root / "load.csv"))
  results = {}
  for name, policy in (("search", "search"), ("search_again", "search"), ("greedy", "greedy")):
    run_config = dataclasses.replace(config, workdir=str(root / name), pack_policy=policy)
    results[name] = (pack.main(run_config), root / name, run_config)
  return results


def test_plan_files_and_summary(plans):
  plan, directory, _ = plans["search"]
  rows = list(csv.DictReader((directory / "plan.csv").open()))
  assert [int(row["order"]) for row in rows] == list(range(1, len(plan.placements) + 1))
  stored = json.loads((directory / "plan.json").read_text())
  assert stored["utilization"] == pytest.approx(plan.utilization)
  assert "search" in stored["policy"] and stored["lost_ems"] == 0
  assert {(entry["name"], entry["copy"]) for entry in stored["did_not_fit"]} == {
      (p.name, p.copy) for p in plan.unplaced}
  assert (directory / "plan.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  assert (directory / "plan_steps.gif").read_bytes()[:6] == b"GIF89a"
  assert (directory / "plan.html").read_text().startswith("<!DOCTYPE html>")
  assert LoadPlan.from_json(directory / "plan.json") == plan


def test_placed_and_unplaced_items_are_exactly_the_csv_items(plans):
  for plan, _, _ in plans.values():
    named = sorted((p.name, p.copy) for p in plan.placements + plan.unplaced)
    assert named == sorted([("pallet", 1), ("pallet", 2), ("half pallet", 1), ("half pallet", 2),
                            ("long crate", 1)])
    assert not {p.item for p in plan.placements} & {p.item for p in plan.unplaced}
    assert plan.unplaced, "the load is larger than the container"


def test_placed_items_lie_in_the_container_and_never_overlap(plans):
  for plan, _, _ in plans.values():
    plan_checks.check_items_lie_in_the_container_and_never_overlap(plan)


def test_replaying_the_rows_through_the_environment_reproduces_the_utilization(plans):
  for plan, _, config in plans.values():
    plan_checks.check_replaying_the_rows_reproduces_the_utilization(plan, make_env(config))


def test_the_same_seed_gives_the_same_plan(plans):
  assert plans["search"][0] == plans["search_again"][0]
  search_csv = (plans["search"][1] / "plan.csv").read_text()
  assert search_csv == (plans["search_again"][1] / "plan.csv").read_text()


def test_more_items_than_a_given_max_num_items_is_refused_and_the_load_size_packs_them(tmp_path):
  (tmp_path / "big.csv").write_text("Item_Name,Length,Width,Height,Quantity\nbox,100,100,100,6\n")
  shutil.copytree(TRAINED, tmp_path / "trained")
  config = dataclasses.replace(workdir_lib.load_config(TRAINED / "config.json"), mode="pack",
                               checkpoint=str(tmp_path / "trained"), csv_path=str(tmp_path / "big.csv"),
                               workdir=str(tmp_path / "plan"), pack_policy="greedy")
  with pytest.raises(UsageError, match=r"6 items so far, more than max_num_items=5: leave --max_num_items out"):
    pack.main(config)
  # Sized to the load (what the command line does unless it gives the sizes), the network trained
  # on 5 items packs 6.
  sized = planner.sized_for_load(config)
  assert (sized.max_num_items, sized.max_num_ems, sized.obs_num_ems) == (6, MIN_EMS_SLOTS, 12)
  plan = pack.main(sized)
  assert len(plan.placements) + len(plan.unplaced) == 6 and len(plan.placements) >= 1
  # Given sizes stay as given.
  assert planner.sized_for_load(config, given=("max_num_items",)).max_num_items == 5
