"""`--mode=pack`: a load plan that replays, never overlaps, names what did not fit, and repeats."""
import csv
import dataclasses
import json
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purepi.cli import pack
from purepi.errors import UsageError
from purepi.evaluation.protocol import make_env
from purepi.training import workdir as workdir_lib

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
  assert "search" in stored["policy"]
  assert {(entry["name"], entry["copy"]) for entry in stored["did_not_fit"]} == {
      (p.name, p.copy) for p in plan.unplaced}
  assert (directory / "plan.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  assert (directory / "plan_steps.gif").read_bytes()[:6] == b"GIF89a"


def test_placed_and_unplaced_items_are_exactly_the_csv_items(plans):
  for plan, _, _ in plans.values():
    named = sorted((p.name, p.copy) for p in plan.placements + plan.unplaced)
    assert named == sorted([("pallet", 1), ("pallet", 2), ("half pallet", 1), ("half pallet", 2),
                            ("long crate", 1)])
    assert not {p.item for p in plan.placements} & {p.item for p in plan.unplaced}
    assert plan.unplaced, "the load is larger than the container"


def test_placed_items_lie_in_the_container_and_never_overlap(plans):
  for plan, _, _ in plans.values():
    lower = np.array([[p.x, p.y, p.z] for p in plan.placements])
    upper = lower + np.array([[p.x_len, p.y_len, p.z_len] for p in plan.placements])
    assert np.all(lower >= 0) and np.all(upper <= np.array(plan.container))
    shared = np.all(np.maximum(lower[:, None], lower[None]) < np.minimum(upper[:, None], upper[None]), -1)
    assert not np.any(shared & ~np.eye(len(lower), dtype=bool))


def test_replaying_the_rows_through_the_environment_reproduces_the_utilization(plans):
  for plan, _, config in plans.values():
    env = make_env(config)
    state, timestep = env.reset(jax.random.PRNGKey(0))
    for placement in plan.placements:
      shown = np.asarray(state.sorted_ems_indexes)[:env.obs_num_ems]
      corners = np.stack([np.asarray(state.ems.x1)[shown], np.asarray(state.ems.y1)[shown],
                          np.asarray(state.ems.z1)[shown]], -1)
      at_corner = np.all(corners == [placement.x, placement.y, placement.z], -1)
      ems_id = int(np.argmax(at_corner & np.asarray(state.action_mask)[:, placement.item]))
      assert at_corner[ems_id] and state.action_mask[ems_id, placement.item]
      state, timestep = env.step(state, jnp.array([ems_id, placement.item], jnp.int32))
      assert not timestep.extras["invalid_action"]
    assert float(timestep.extras["volume_utilization"]) == pytest.approx(plan.utilization, rel=1e-6)


def test_the_same_seed_gives_the_same_plan(plans):
  assert plans["search"][0] == plans["search_again"][0]
  search_csv = (plans["search"][1] / "plan.csv").read_text()
  assert search_csv == (plans["search_again"][1] / "plan.csv").read_text()


def test_more_items_than_max_num_items_names_the_flag_and_a_larger_one_packs_them(tmp_path):
  (tmp_path / "big.csv").write_text("Item_Name,Length,Width,Height,Quantity\nbox,100,100,100,6\n")
  shutil.copytree(TRAINED, tmp_path / "trained")
  config = dataclasses.replace(workdir_lib.load_config(TRAINED / "config.json"), mode="pack",
                               checkpoint=str(tmp_path / "trained"), csv_path=str(tmp_path / "big.csv"),
                               workdir=str(tmp_path / "plan"), pack_policy="greedy")
  with pytest.raises(UsageError, match=r"6 items so far, more than max_num_items=5: .*give --max_num_items"):
    pack.main(config)
  # The network trained on 5 items packs 6 when the command line gives the size.
  plan = pack.main(dataclasses.replace(config, max_num_items=6, max_num_ems=12, obs_num_ems=12))
  assert len(plan.placements) + len(plan.unplaced) == 6 and len(plan.placements) >= 1
