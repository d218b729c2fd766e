"""A damaged exported network is one line naming the file, exit 2, for --checkpoint and purepi.pack."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import purepi
from purepi.errors import UsageError
from purepi.training.trained_networks import export_network

ROOT = Path(__file__).parent.parent
TRAINED = Path(__file__).parent / "data" / "workdir_v0"
ROWS = [("box", 400, 300, 200, 2)]


def cut_short(directory):
  path = directory / "params.msgpack"
  path.write_bytes(path.read_bytes()[:1000])


def emptied(directory):
  (directory / "params.msgpack").write_bytes(b"")


def config_of_another_network(directory):
  path = directory / "config.json"
  config = json.loads(path.read_text())
  config["key_size"] *= 2
  path.write_text(json.dumps(config))


DAMAGES = {"cut short": (cut_short, "params.msgpack: not a network purepi wrote, or damaged"),
           "empty": (emptied, "params.msgpack: not a network purepi wrote, or damaged"),
           "another network's config": (config_of_another_network, "its parameters are not those of the network")}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
  directory = tmp_path_factory.mktemp("network") / "ok"
  export_network(str(TRAINED), directory)
  return directory


def damaged_copy(exported, tmp_path, damage):
  """`(directory, problem)`: a copy of the exported network spoilt by `damage`, and what its error says."""
  damaged = tmp_path / "damaged"
  shutil.copytree(exported, damaged)
  spoil, problem = DAMAGES[damage]
  spoil(damaged)
  return damaged, problem


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_purepi_pack_on_a_damaged_network_is_a_usage_error(exported, tmp_path, damage):
  damaged, problem = damaged_copy(exported, tmp_path, damage)
  with pytest.raises(UsageError, match=problem) as error:
    purepi.pack(ROWS, checkpoint=damaged, policy="greedy")
  assert str(damaged) in str(error.value) and "\n" not in str(error.value)
  assert purepi.pack(ROWS, checkpoint=exported, policy="greedy").placements


@pytest.mark.slow
@pytest.mark.parametrize("damage", list(DAMAGES))
def test_pack_and_eval_on_a_damaged_network_exit_2_in_one_line(exported, tmp_path, damage):
  damaged, problem = damaged_copy(exported, tmp_path, damage)
  (tmp_path / "load.csv").write_text("Item_Name,Length,Width,Height,Quantity\nbox,400,300,200,2\n")
  for mode in (["--mode=pack", f"--csv_path={tmp_path / 'load.csv'}", f"--workdir={tmp_path / 'plan'}"],
               ["--mode=eval", "--eval_num_episodes=2"]):
    result = subprocess.run([sys.executable, "run.py", *mode, f"--checkpoint={damaged}"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    assert problem in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
  assert not list((tmp_path / "plan").glob("plan*"))


def test_no_committed_file_of_the_package_or_the_docs_holds_a_path_of_the_machine_that_made_it(exported):
  """Package data (the shipped networks' config.json, provenance), the docs and their result files
  (run records included) and an export name no absolute path: a workdir or temporary folder of the
  build machine means nothing on a user's."""
  import re
  absolute = re.compile(r"""["'`(\s=](/(?:work|tmp|home|root|Users|var|mnt)/[^"'`\s)]*)""")
  files = [path for folder in ("purepi", "docs") for path in (ROOT / folder).rglob("*")
           if path.suffix in (".json", ".jsonl", ".md", ".txt", ".csv")]
  files.append(exported / "config.json")
  found = [f"{path}: {match.group(1)}" for path in files for match in absolute.finditer(path.read_text())]
  assert not found, found
