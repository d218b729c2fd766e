"""Training over mixed sizes (`--train_num_items`): instances of each listed item count, padded to
`--max_num_items`; the trainer collects on them while evaluation stays at `--max_num_items`."""
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purepi import config as config_lib
from purepi.env import RandomBoxGenerator, RandomGenerator
from purepi.errors import UsageError
from purepi.env.make import make_env
from tests import test_distill
from tests.trainer_runs import run_and_read_metrics

ROOT = Path(__file__).resolve().parent.parent
KEYS = jax.random.split(jax.random.PRNGKey(3), 200)


def item_counts(generator):
  states = jax.vmap(generator)(KEYS)
  return np.asarray(jnp.sum(states.items_mask, axis=-1)), states


def test_cut_instances_take_each_listed_size_and_still_fill_the_container():
  generator = RandomGenerator(max_num_items=30, max_num_ems=60, num_items_choices=(5, 12, 30))
  counts, _ = item_counts(generator)
  # The cut stops once n - 1 boxes exist (split_num_same_items=2), so an instance of n has n - 1 or n items.
  assert set(counts) <= {4, 5, 11, 12, 29, 30}
  for low, high in ((4, 5), (11, 12), (29, 30)):
    assert 30 < np.sum((counts >= low) & (counts <= high)) < 110, "each size drawn about a third of the time"
  solutions = jax.vmap(generator.generate_solution)(KEYS)
  volumes = np.prod([np.asarray(side, np.int64) for side in solutions.items], axis=0)
  assert np.all(np.sum(np.where(solutions.items_mask, volumes, 0), axis=-1) == np.prod(generator.container_dims))


def test_box_instances_are_padded_with_absent_items_of_zero_size():
  counts, states = item_counts(RandomBoxGenerator(max_num_items=30, max_num_ems=60, num_items_choices=(7, 30)))
  assert set(counts) == {7, 30}
  absent = ~np.asarray(states.items_mask)
  assert np.all(np.asarray(states.items.x_len)[absent] == 0)
  assert np.all(np.asarray(states.items.x_len)[~absent] > 0)


def test_without_choices_instances_are_unchanged():
  for plain, listed in ((RandomGenerator(20, 40), RandomGenerator(20, 40, num_items_choices=())),
                        (RandomBoxGenerator(20, 40), RandomBoxGenerator(20, 40, num_items_choices=()))):
    chex_equal = jax.tree.map(np.array_equal, jax.vmap(plain)(KEYS[:8]), jax.vmap(listed)(KEYS[:8]))
    assert all(jax.tree.leaves(chex_equal))


def test_only_training_instances_are_mixed():
  config = dataclasses.replace(test_distill.TINY, max_num_items=8, train_num_items=(3, 8))
  training_counts, _ = item_counts(make_env(config, training=True).generator)
  held_out_counts, _ = item_counts(make_env(config).generator)
  assert min(training_counts) <= 3 and max(training_counts) >= 7 and min(held_out_counts) >= 7


@pytest.mark.parametrize("counts, max_num_items, message", [
    ((5, 30), 20, "--train_num_items=5,30 holds more items than --max_num_items=20"),
    ((0, 5), 20, "--train_num_items must be positive item counts, got 0,5"),
])
def test_counts_the_padding_cannot_hold_are_refused(counts, max_num_items, message):
  with pytest.raises(UsageError, match=message):
    config_lib.validate(config_lib.Config(train_num_items=counts, max_num_items=max_num_items))


def test_a_bad_list_is_refused_in_one_line_and_nothing_is_written(tmp_path):
  workdir = tmp_path / "run"
  result = subprocess.run([sys.executable, "run.py", "--mode=distill", "--train_num_items=20,50",
                           f"--workdir={workdir}"], cwd=ROOT, capture_output=True, text=True)
  assert result.returncode == 2
  assert result.stderr.strip().splitlines() == [
      "error: --train_num_items=20,50 holds more items than --max_num_items=20, to which every instance "
      "is padded: raise --max_num_items"]
  assert not workdir.exists()


@pytest.mark.slow
def test_a_mixed_size_run_trains_and_evaluates_at_the_largest_size(tmp_path):
  config = dataclasses.replace(test_distill.TINY, max_num_items=8, max_num_ems=16, obs_num_ems=16,
                               train_num_items=(3, 8), num_renders=0)
  (record,) = run_and_read_metrics(config, tmp_path, num_iterations=1)
  assert np.isfinite(record["loss"]) and 0 < record["eval_greedy_utilization"] <= 1
  assert json.loads((tmp_path / "config.json").read_text())["train_num_items"] == [3, 8]
