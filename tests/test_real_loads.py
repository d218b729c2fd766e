"""Real loads: orientation rules per box, supported plans, the Bischoff-Ratcliff reader and generator,
and the anytime packer (never below the best heuristic), each plan replayed from its plan.json."""
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import purepi.env as purepi_env
from purepi.anytime import ANYTIME_HEURISTICS
from purepi.cli import pack as pack_cli
from purepi.env.orientations import ORIENTATIONS, orientation_rule
from purepi.env.orlib import read_problems
from purepi.errors import UsageError
from purepi.env.make import make_env
from purepi.policies.heuristics import HEURISTICS
from purepi.policies.load_plan import episode_player, load_plan, pack_one
from purepi.training import workdir as workdir_lib

ROOT = Path(__file__).parent.parent
TRAINED = Path(__file__).parent / "data" / "workdir_v0"  # a tiny trained run, max_num_items=5
BR_DIRECTORY = ROOT / "third_party_parity" / "benchmarks" / "br"
# Boxes of three kinds with their own rules, more than a small container holds.
RULED_CSV = ("Item_Name,Length,Width,Height,Quantity,Rotation\n"
             "tv,1200,200,800,3,none\nfridge,700,700,1800,2,upright\ncarton,600,400,300,6,any\n"
             "board,1500,300,100,3,110\n")


def test_rules_in_words_and_flags():
  assert orientation_rule("none") == (True, False, False, False, False, False)
  assert orientation_rule("upright") == orientation_rule("001")
  assert orientation_rule("any") == orientation_rule("111") == (True,) * 6
  # "110": the height may not stand vertical: only orientations with the length or width up.
  assert [permutation[2] for permutation, allowed in zip(ORIENTATIONS["all"], orientation_rule("110")) if allowed] == [1, 1, 0, 0]
  for bad in ("sideways", "000", "12", "1101"):
    with pytest.raises(ValueError, match="orientation rule"):
      orientation_rule(bad)


def test_a_csv_without_the_rotation_column_carries_no_rule(tmp_path):
  path = tmp_path / "load.csv"
  path.write_text("Item_Name,Length,Width,Height,Quantity\nbox,100,100,100,2\n")
  assert purepi_env.CSVGenerator(str(path), max_num_ems=40)(None).items_orientations is None
  ruled = purepi_env.CSVGenerator(str(path), max_num_ems=40, rotations="all", default_rule="upright")
  assert np.asarray(ruled(None).items_orientations).tolist() == [list(orientation_rule("upright"))] * 2


@pytest.mark.parametrize("text,problem", [
    ("Item_Name,Length,Width,Height,Quantity,Rotation\nbox,100,100,100,2,sideways\n",
     r"load.csv, line 2: Rotation of 'box': orientation rule 'sideways' is not one of none, upright, any"),
    ("Item_Name,Length,Width,Height,Quantity,Rotation\nbox,100,100,100,2\n",
     r"line 2: expected 6 fields"),
    ("Item_Name,Length,Width,Height,Quantity,Turn\nbox,100,100,100,2,any\n", r"expected the header"),
    ("Item_Name,Length,Width,Height,Quantity,Rotation\nbox,100,100,9000,2,none\n",
     r"line 2: Height 9000 of 'box' exceeds the container's 2200 mm"),
])
def test_a_malformed_rotation_column_is_one_line_naming_it(tmp_path, text, problem):
  (tmp_path / "load.csv").write_text(text)
  with pytest.raises(UsageError, match=problem):
    purepi_env.CSVGenerator(str(tmp_path / "load.csv"), max_num_ems=40, rotations="all")


def check_loadable(stored, rules, min_support):
  """A plan as plan.json stores it, replayed box by box: inside the container, no overlap, each box
  turned only as its rule allows and resting on at least `min_support` of its base (recomputed here
  from the boxes placed before it), the utilization the replay's."""
  container = np.array(stored["container_mm"])
  placed = sorted(stored["placed"], key=lambda row: row["order"])
  lower = np.array([[row["x"], row["y"], row["z"]] for row in placed]).reshape(-1, 3)
  upper = lower + np.array([[row["x_len"], row["y_len"], row["z_len"]] for row in placed]).reshape(-1, 3)
  assert np.all(lower >= 0) and np.all(upper <= container)
  shared = np.all(np.maximum(lower[:, None], lower[None]) < np.minimum(upper[:, None], upper[None]), -1)
  assert not np.any(shared & ~np.eye(len(lower), dtype=bool))
  for index, row in enumerate(placed):
    permutation = tuple("LWH".index(side) for side in row["orientation"])
    assert orientation_rule(rules[row["name"]])[ORIENTATIONS["all"].index(permutation)], row
    support = 1.0
    if row["z"] > 0:
      below = [other for other in range(index) if upper[other, 2] == row["z"]]
      area = sum(max(0, min(upper[o, 0], upper[index, 0]) - max(lower[o, 0], lower[index, 0]))
                 * max(0, min(upper[o, 1], upper[index, 1]) - max(lower[o, 1], lower[index, 1])) for o in below)
      support = area / (row["x_len"] * row["y_len"])
    assert support >= min_support - 1e-9 and support == pytest.approx(row["supported"]), row
  volume = float(np.sum(np.prod(upper - lower, axis=-1)))
  assert stored["utilization"] == pytest.approx(volume / float(np.prod(container)), rel=1e-9)


@pytest.fixture(scope="module")
def anytime_plan(tmp_path_factory):
  """The anytime plan of RULED_CSV in a small container, written by --mode=pack's code."""
  root = tmp_path_factory.mktemp("anytime")
  (root / "load.csv").write_text(RULED_CSV)
  trained = dataclasses.replace(workdir_lib.load_config(TRAINED / "config.json"), mode="pack",
                                checkpoint=str(TRAINED))
  config = dataclasses.replace(trained, csv_path=str(root / "load.csv"), workdir=str(root / "plan"),
                               container_dims=(2400, 1600, 1900), max_num_items=14, max_num_ems=160,
                               obs_num_ems=28, pack_policy="anytime", time_limit=30.0, min_support=0.75,
                               rotation_rule="upright", progress=False)
  plan = pack_cli.main(config)
  return plan, config, json.loads((root / "plan" / "plan.json").read_text())


@pytest.mark.slow
def test_the_anytime_plan_is_loadable_and_records_what_it_tried(anytime_plan):
  plan, config, stored = anytime_plan
  rules = {"tv": "none", "fridge": "upright", "carton": "any", "board": "110"}
  check_loadable(stored, rules, 0.75)
  assert [attempt["policy"] for attempt in stored["tried"]][:len(ANYTIME_HEURISTICS)] == [
      f"heuristic {name}" for name in ANYTIME_HEURISTICS]
  assert "greedy network" in [attempt["policy"] for attempt in stored["tried"]]
  assert stored["utilization"] == max(attempt["utilization"] for attempt in stored["tried"])
  assert stored["min_support"] == 0.75 and 0 < stored["seconds"]
  assert any(row["orientation"] != "LWH" for row in stored["placed"]), "some box is turned"


@pytest.mark.slow
def test_anytime_is_never_below_the_best_heuristic_played_on_its_own(anytime_plan):
  plan, config, _ = anytime_plan
  env = make_env(dataclasses.replace(config, rotations="all"))
  best = max(load_plan(*pack_one(env, policy, jax.random.PRNGKey(0), jax.random.PRNGKey(1)),
                       env.generator.item_names, name).utilization
             for name, policy in HEURISTICS.items() if name != "random")
  assert plan.utilization >= best


SUPPORT_PLAYERS = {}


def support_player(min_support):
  """A compiled random-valid episode over generated loads (random types, each with its own rule) at
  `min_support`, one per support fraction."""
  if min_support not in SUPPORT_PLAYERS:
    generator = purepi_env.RandomLoadGenerator(max_num_items=16, max_num_ems=160, container_dims=(1000, 2330, 2200))
    env = purepi_env.BinPack(generator, obs_num_ems=32, rotations="all", min_support=min_support,
                             normalize_dimensions=False)
    SUPPORT_PLAYERS[min_support] = (env, episode_player(env, HEURISTICS["random"]))
  return SUPPORT_PLAYERS[min_support]


@pytest.mark.slow
@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2 ** 30), min_support=st.sampled_from([0.0, 0.5, 0.75, 1.0]))
def test_every_allowed_action_keeps_rules_and_support(seed, min_support):
  """Random allowed actions on generated loads with per-item rules, to the end: every box keeps its
  own rule and rests on at least `min_support` of its base, replayed from the plan's rows."""
  env, play = support_player(min_support)
  states, actions, valid = play(jax.random.PRNGKey(seed), jax.random.PRNGKey(seed + 1))
  names = [f"item {index}" for index in range(env.generator.max_num_items)]
  plan = load_plan(states, actions, valid, names, "random")
  allowed = np.asarray(states.items_orientations[0])
  flags = {name: "".join("1" if allowed[index][ORIENTATIONS["all"].index(permutation)] else "0"
                         for permutation in ((1, 2, 0), (0, 2, 1), (0, 1, 2)))
           for index, name in enumerate(names)}
  check_loadable({"container_mm": plan.container, "utilization": plan.utilization,
                  "placed": [placement._asdict() for placement in plan.placements]}, flags, min_support)


def test_the_reader_reads_every_shipped_class():
  for class_number in range(16):
    problems = read_problems(BR_DIRECTORY / f"br{class_number}.txt")
    assert len(problems) == 100
    for problem in problems:
      assert problem.container == (587, 233, 220)
      assert all(box.rule[2] == "1" and box.quantity > 0 for box in problem.box_types)
      volume = sum(box.length * box.width * box.height * box.quantity for box in problem.box_types)
      assert 0.9 < volume / (587 * 233 * 220) <= 1.0
  assert [len(problem.box_types) for problem in read_problems(BR_DIRECTORY / "br7.txt")][:3] == [20, 20, 20]
  assert read_problems(BR_DIRECTORY / "br1.txt")[0].rows[0] == ("type 1", 108, 76, 30, 40, "001")


@pytest.mark.parametrize("edit,problem", [
    (lambda text: text[:len(text) // 2].rsplit(" ", 1)[0], r"the file ends where .* should be \(cut short\?\)"),
    (lambda text: text.replace(" 108 0 76 0 30 1 40", " -108 0 76 0 30 1 40", 1),
     r"problem 1: box type 1's length must be positive, got -108"),
    (lambda text: text.replace(" 108 0 76 0 30 1 40", " 108 2 76 0 30 1 40", 1),
     r"problem 1: box type 1's length flag must be in 0..1, got 2"),
    (lambda text: text.replace(" 108 0 76 0 30 1 40", " 108 0 76 0 30 0 40", 1),
     r"problem 1: box type 1 may stand on no side"),
    (lambda text: text.replace(" 587 233 220", " 587 2x3 220", 1), r"container's width must be an integer"),
])
def test_a_damaged_br_file_is_one_line_naming_it(tmp_path, edit, problem):
  damaged = tmp_path / "br1.txt"
  damaged.write_text(edit((BR_DIRECTORY / "br1.txt").read_text()))
  with pytest.raises(UsageError, match=problem):
    read_problems(damaged)


def test_generated_loads_follow_the_published_procedure():
  generator = purepi_env.RandomLoadGenerator(max_num_items=200, max_num_ems=160, container_dims=(5870, 2330, 2200))
  states = jax.vmap(generator)(jax.random.split(jax.random.PRNGKey(0), 64))
  lengths = np.stack([np.asarray(states.items.x_len), np.asarray(states.items.y_len),
                      np.asarray(states.items.z_len)], -1)
  mask = np.asarray(states.items_mask)
  real = lengths[mask]
  assert np.all(real[:, 0] >= real[:, 1]) and np.all(real[:, 1] >= real[:, 2])
  assert real[:, 0].min() >= 300 and real[:, 0].max() <= 1210 and real[:, 2].min() >= 200 and real[:, 2].max() <= 810
  fill = np.sum(np.prod(lengths.astype(float), -1) * mask, -1) / (5870 * 2330 * 2200)
  capped = mask.sum(-1) == generator.max_num_items  # boxes stop at max_num_items
  assert np.all(fill[~capped] >= 0.98) and np.all(fill < 1.1) and capped.mean() < 0.2
  rules = np.asarray(states.items_orientations)[mask]
  upright = np.array(orientation_rule("upright"))
  assert np.all(rules[:, upright]), "the height may always stand vertical"


def run_py(*arguments):
  return subprocess.run([sys.executable, "run.py", *arguments], cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
@pytest.mark.parametrize("arguments,problem", [
    (["--time_limit=0"], "--time_limit must be > 0, got 0.0"),
    (["--time_limit=-5"], "--time_limit must be > 0, got -5.0"),
    (["--time_limit=soon"], "time_limit"),
    (["--rotation_rule=sideways"], "orientation rule 'sideways' is not one of"),
])
def test_bad_pack_settings_are_one_line_and_write_nothing(tmp_path, arguments, problem):
  (tmp_path / "load.csv").write_text("Item_Name,Length,Width,Height,Quantity\nbox,100,100,100,2\n")
  result = run_py("--mode=pack", f"--csv_path={tmp_path / 'load.csv'}", f"--workdir={tmp_path / 'plan'}",
                  f"--checkpoint={TRAINED}", *arguments)
  assert result.returncode == 2, result.stderr
  assert problem in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
  assert not list((tmp_path / "plan").glob("plan*"))


@pytest.mark.slow
def test_a_load_whose_every_box_is_larger_than_the_container_is_refused(tmp_path):
  (tmp_path / "load.csv").write_text("Item_Name,Length,Width,Height,Quantity\ngiant,9000,3000,3000,2\n")
  result = run_py("--mode=pack", f"--csv_path={tmp_path / 'load.csv'}", f"--workdir={tmp_path / 'plan'}",
                  f"--checkpoint={TRAINED}")
  assert result.returncode == 2 and "exceeds the container" in result.stderr, result.stderr
  assert len(result.stderr.strip().splitlines()) == 1 and not list((tmp_path / "plan").glob("plan*"))


def test_pack_defaults_hold_whatever_the_trained_run_did():
  """The network pack ships trained in a quarter container at full support: pack still packs a
  20-foot container with 3/4 support, boxes upright, anytime, unless the command line says."""
  from purepi.cli import settings
  from purepi.config import Config
  trained = workdir_lib.load_config(ROOT / "purepi" / "real_load_network" / "config.json")
  assert trained.container_dims != (5870, 2330, 2200) and trained.min_support == 1.0
  command = Config(mode="pack", csv_path="load.csv")
  packed = settings.for_trained_run(command, trained, given=("csv_path",))
  assert (packed.container_dims, packed.min_support, packed.rotation_rule, packed.pack_policy) == (
      (5870, 2330, 2200), 0.75, "upright", "anytime")
  given = dataclasses.replace(command, container_dims=(12030, 2350, 2390), min_support=1.0)
  packed = settings.for_trained_run(given, trained, given=("csv_path", "container_dims", "min_support"))
  assert (packed.container_dims, packed.min_support) == ((12030, 2350, 2390), 1.0)
