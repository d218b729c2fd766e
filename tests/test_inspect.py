"""`--mode=inspect`: the report follows the tree, the reconstruction agrees with it, the dot file is the tree."""
import dataclasses
import re
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purepi import config as config_lib
from purepi.errors import UsageError
from purepi.cli import inspect as inspect_lib
from purepi.search import trace as search_trace
from purepi.env.make import make_env
from purepi.policies import search_policy
from purepi.policies.rollout import flat_invalid_actions

SMALL = dict(mode="inspect", max_num_items=6, obs_num_ems=8, max_num_ems=12, inspect_num_simulations=8,
             inspect_num_considered_actions=4, inspect_num_steps=1, seed=3)
SECTION_TITLES = ("1. State and Gumbel-Top-m", "2. Sequential Halving phases", "3. Completed Q and sigma",
                  "4. Improved policy", "5. Chosen action")


@pytest.fixture(scope="module")
def inspected():
  config = config_lib.Config(**SMALL)
  env = make_env(config)
  state, timestep = inspect_lib.mid_episode_state(env, config)
  output = inspect_lib.run_search(config, env, inspect_lib.UniformPrior(), (), state, timestep)
  report = inspect_lib.format_report(config, "uniform", timestep, output)
  return config, env, state, timestep, output, report


def sections(report):
  """{section number: its text}, split at the numbered titles."""
  parts = re.split(r"^(\d)\. ", report, flags=re.MULTILINE)
  return {int(number): text for number, text in zip(parts[1::2], parts[2::2])}


def table_rows(text):
  """Rows (lists of cells) of every table in `text`: the lines after a rule of dashes, up to a blank line."""
  rows, in_table = [], False
  for line in text.splitlines():
    if re.fullmatch(r"[- ]*-[- ]*", line):
      in_table = True
    elif not line.strip():
      in_table = False
    elif in_table:
      rows.append(line.split())
  return rows


@pytest.mark.slow
def test_report_has_every_section_in_order(inspected):
  *_, output, report = inspected
  positions = [report.index(title) for title in SECTION_TITLES]
  assert positions == sorted(positions)
  chosen = int(output.action[0])
  assert f"action {chosen} = (ems {chosen // 6}, item {chosen % 6})" in sections(report)[5]


@pytest.mark.slow
def test_considered_actions_are_the_top_k_of_logits_plus_gumbel_among_valid(inspected):
  config, _, _, timestep, output, report = inspected
  tree = search_trace.first_tree(output)
  valid = np.asarray(timestep.observation.action_mask[0]).reshape(-1)
  k = min(config.inspect_num_considered_actions, int(valid.sum()))
  logits = np.asarray(inspect_lib.UniformPrior().apply((), timestep.observation)[0][0])
  scores = logits + tree.extra_data.root_gumbel
  ranked = sorted(np.flatnonzero(valid), key=lambda action: -scores[action])
  reported = [int(row[1]) for row in table_rows(sections(report)[1])]
  assert reported == ranked[:k]
  # With n >= m the first m simulations visit exactly these actions.
  assert set(np.flatnonzero(tree.children_visits[0] > 0)) == set(reported)


@pytest.mark.slow
def test_phase_visits_sum_to_num_simulations(inspected):
  config, *_, output, report = inspected
  visits_in_phase = [int(row[-4]) for row in table_rows(sections(report)[2])]
  assert sum(visits_in_phase) == config.inspect_num_simulations
  tree = search_trace.first_tree(output)
  trace = search_trace.trace_simulations(tree)
  records = search_trace.reconstruct_phases(tree, trace, config.inspect_num_considered_actions)
  assert len(records) > 1  # the small config halves at least once
  for record in records:
    assert sum(row.visits_in_phase for row in record.rows) == len(record.phase.considered_visits)
    assert len(record.rows) == min(record.phase.num_considered, len(record.phase.considered_visits))


@pytest.mark.slow
def test_reconstruction_agrees_with_the_final_tree(inspected):
  config, *_, output, _ = inspected
  tree = search_trace.first_tree(output)
  trace = search_trace.trace_simulations(tree)
  rewound = search_trace.root_after(tree, trace, config.inspect_num_simulations)
  np.testing.assert_array_equal(rewound.children_visits[0], tree.children_visits[0])
  visited = tree.children_visits[0] > 0
  np.testing.assert_allclose(rewound.children_values[0][visited], tree.children_values[0][visited], rtol=1e-5)
  # Sigma of the rewound final root is what the policy used for its improved policy.
  _, sigma, _ = search_trace.root_scores(rewound)
  improved = jax.nn.softmax(jnp.where(tree.root_invalid_actions.astype(bool), -jnp.inf,
                                      tree.children_prior_logits[0] + sigma))
  np.testing.assert_allclose(improved, output.action_weights[0], atol=1e-6)


@pytest.mark.slow
def test_dot_file_holds_every_used_node_and_edge(inspected, tmp_path):
  config, *_, output, _ = inspected
  tree = search_trace.first_tree(output)
  dot_text = search_trace.tree_to_dot(tree, (config.obs_num_ems, config.max_num_items), int(output.action[0]))
  nodes = re.findall(r"^  n(\d+) \[label=", dot_text, flags=re.MULTILINE)
  edges = re.findall(r"^  n(\d+) -> n(\d+) \[label=", dot_text, flags=re.MULTILINE)
  assert len(nodes) == int(np.sum(tree.node_visits > 0)) == config.inspect_num_simulations + 1
  assert sorted((int(parent), int(child)) for parent, child in edges) == sorted(
      (int(tree.parents[child]), child) for child in range(1, config.inspect_num_simulations + 1))
  assert dot_text.startswith("digraph") and dot_text.rstrip().endswith("}")
  dot_binary = shutil.which("dot")
  if dot_binary:  # where Graphviz is installed, it must read the file too
    plain = subprocess.run([dot_binary, "-Tplain"], input=dot_text, capture_output=True, text=True, check=True)
    assert sum(line.startswith("node ") for line in plain.stdout.splitlines()) == len(nodes)


def test_write_tree_writes_png_only_with_graphviz(tmp_path, monkeypatch):
  monkeypatch.setattr(inspect_lib.shutil, "which", lambda name: None)
  written = inspect_lib.write_tree(str(tmp_path / "a" / "tree.dot"), "digraph g { n0; }\n")
  assert [path.name for path in written] == ["tree.dot"]
  assert (tmp_path / "a" / "tree.dot").read_text() == "digraph g { n0; }\n"


@pytest.mark.slow
def test_recurrent_fn_ends_the_episode_with_discount_and_value_zero(inspected):
  config, env, state, timestep, *_ = inspected
  class ValueOne(inspect_lib.UniformPrior):
    def apply(self, params, observation):
      logits, value = super().apply(params, observation)
      return logits, jnp.ones_like(value)

  recurrent_fn = jax.jit(search_policy.make_recurrent_fn(env, ValueOne(), discount=1.0))
  invalid = flat_invalid_actions(timestep.observation)[0]
  valid_action, invalid_action = int(jnp.argmin(invalid)), int(jnp.argmax(invalid))
  running = search_policy.SearchEmbedding(state, jnp.zeros([1], bool))
  output, after_valid = recurrent_fn((), jax.random.PRNGKey(0), jnp.array([valid_action]), running)
  assert float(output.discount[0]) == 1.0 and float(output.value[0]) == 1.0 and float(output.reward[0]) > 0
  output, after_invalid = recurrent_fn((), jax.random.PRNGKey(0), jnp.array([invalid_action]), running)
  assert float(output.discount[0]) == 0.0 and float(output.value[0]) == 0.0 and float(output.reward[0]) == 0.0
  # Past the end nothing more is earned, even for an action that was valid before.
  output, _ = recurrent_fn((), jax.random.PRNGKey(0), jnp.array([valid_action]), after_invalid)
  assert bool(after_invalid.terminal[0]) and not bool(after_valid.terminal[0])
  assert float(output.reward[0]) == 0.0 and float(output.discount[0]) == 0.0


@pytest.mark.slow
def test_too_many_greedy_steps_is_a_clear_error():
  config = config_lib.Config(**dict(SMALL, inspect_num_steps=SMALL["max_num_items"]))
  with pytest.raises(ValueError, match="--inspect_num_steps=6 ends the episode"):
    inspect_lib.mid_episode_state(make_env(config), config)
  with pytest.raises(ValueError, match="--inspect_num_steps must be >= 0"):
    config_lib.validate(dataclasses.replace(config, inspect_num_steps=-1))


def test_missing_checkpoint_is_a_clear_error(tmp_path):
  config = config_lib.Config(**dict(SMALL, checkpoint=str(tmp_path / "none")))
  with pytest.raises(UsageError, match="is neither a workdir with checkpoints/"):
    inspect_lib.load_prior(config)


@pytest.mark.slow
def test_run_py_inspect_end_to_end(tmp_path):
  flags = [f"--{name}={value}" for name, value in SMALL.items()]
  tree_path = tmp_path / "tree.dot"
  result = subprocess.run([sys.executable, "run.py", *flags, f"--tree_out={tree_path}"],
                          capture_output=True, text=True)
  assert result.returncode == 0, result.stderr
  for title in SECTION_TITLES:
    assert title in result.stdout
  assert tree_path.read_text().startswith("digraph")
  assert f"tree written to {tree_path}" in result.stdout
