"""`--mode=inspect`: one Gumbel MuZero search on a BinPack state, told step by step.

  python run.py --mode=inspect                                   # uniform prior
  python run.py --mode=inspect --checkpoint=workdirs/distill     # trained prior
  python run.py --mode=inspect --tree_out=/tmp/tree.dot          # + Graphviz (and PNG)

The state is a fresh instance from `--seed`, advanced `--inspect_num_steps`
steps by a greedy heuristic so the search starts mid-episode. The environment
is its own model: the search embedding is the env `State`, and every node's
prior and value come from one prior source (uniform, or the trained network).

The report follows the search in order:
  1. the state and the Gumbel-Top-m considered actions (logit + g);
  2. each Sequential Halving phase: survivors, visits, Q, score;
  3. completed Q and sigma(completed Q) at the end;
  4. the improved policy pi' next to the prior pi;
  5. the chosen action.

The search itself keeps no history, only the final tree. Section 2 is
reconstructed from it: simulation s created node s + 1 (the tree allocates
one node per simulation), so following node s + 1's parents gives the root
action of simulation s and the return it backed into that root child; the
root children's visits and values after any simulation follow from these.
Phase boundaries are `purepi.search.sequential_halving_phases`.
"""
import shutil
import subprocess
from inspect import signature
from pathlib import Path
from typing import NamedTuple, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from purepi import search
from purepi.agents.evaluation import make_env
from purepi.agents.heuristics import largest_item_deepest_bottom_left
from purepi.agents import search_policy
from purepi.agents.rollout import rollout
from purepi.masking import mask_invalid_actions
from purepi.search import qtransforms
from purepi.search.seq_halving import Phase

# How many actions section 4 lists for pi' and for pi.
NUM_TOP_ACTIONS = 8


class UniformPrior:
  """Stands in for the network when no checkpoint is given: equal logits over
  the valid actions and value 0, with the network's `apply(params, observation)`."""

  def apply(self, params, observation):
    del params
    invalid_actions = search_policy.flat_invalid_actions(observation)
    logits = mask_invalid_actions(jnp.zeros(invalid_actions.shape, jnp.float32), invalid_actions)
    return logits, jnp.zeros(invalid_actions.shape[:-1], jnp.float32)


def load_prior(config):
  """`(network, params, description)`: the checkpoint's trained network if given, else `UniformPrior`."""
  if not config.checkpoint:
    return UniformPrior(), (), "uniform over valid actions, value 0"
  try:
    from purepi.agents.experiment import load_params
    from purepi.networks import make_network
  except ImportError as error:
    raise ValueError(f"--checkpoint needs the trained network and its checkpoint loader, "
                     f"which this checkout lacks ({error})") from None
  params, run_config = load_params(config.checkpoint)
  return make_network(run_config), params, f"network from {config.checkpoint}"


def mid_episode_state(env, config):
  """A fresh instance from `config.seed`, after `config.inspect_num_steps` greedy steps (batch of 1)."""
  instance_key = jax.random.split(jax.random.PRNGKey(config.seed))[0]
  state, timestep = jax.vmap(env.reset)(instance_key[None])
  if config.inspect_num_steps:
    state, timestep, _ = jax.jit(rollout, static_argnums=(0, 1, 5))(
        env, largest_item_deepest_bottom_left, instance_key, state, timestep, config.inspect_num_steps)
  if bool(timestep.last()[0]):
    raise ValueError(f"--inspect_num_steps={config.inspect_num_steps} ends the episode of seed "
                     f"{config.seed}: no action is left to search; use fewer steps")
  return state, timestep


def run_search(config, env, network, params, state, timestep) -> search.PolicyOutput:
  """The trainer's search (`search_policy.run_search`) once, with the Config's search settings."""
  search_key = jax.random.split(jax.random.PRNGKey(config.seed))[1]
  search_once = jax.jit(lambda key, state, timestep: search_policy.run_search(
      env, network, params, key, state, timestep, config.num_simulations,
      config.max_num_considered_actions, config.gumbel_scale, config.discount))
  return search_once(search_key, state, timestep)


# ---------------------------------------------------------------------------
# What the search did, read back from one (unbatched, numpy) tree.


def first_tree(output: search.PolicyOutput) -> search.Tree:
  """Batch row 0 of the search tree, as numpy arrays."""
  return jax.tree.map(lambda leaf: np.asarray(leaf[0]), output.search_tree)


def num_considered_actions(tree: search.Tree, max_num_considered_actions: int) -> int:
  """m = min(max_num_considered_actions, number of valid root actions), as the root rule uses it."""
  num_valid = int(np.sum(~tree.root_invalid_actions.astype(bool)))
  return min(max_num_considered_actions, num_valid)


def gumbel_top_k(tree: search.Tree, k: int) -> np.ndarray:
  """The k valid root actions with the largest logits + g, best first (ties: lower index)."""
  scores = tree.children_prior_logits[0] + tree.extra_data.root_gumbel
  scores = np.where(tree.root_invalid_actions.astype(bool), -np.inf, scores)
  return np.argsort(-scores, kind="stable")[:k]


class SimulationTrace(NamedTuple):
  """Per simulation s: `root_actions[s]`, the root action it took, and
  `root_child_returns[s]`, the return G it backed into that root child."""
  root_actions: np.ndarray
  root_child_returns: np.ndarray


def trace_simulations(tree: search.Tree) -> SimulationTrace:
  """Follows node s + 1 (created by simulation s) up to the root, redoing its backup G <- r + discount * G.

  The leaf's G is its raw value; the G that reaches the depth-1 node is what
  the simulation added to that root child's running mean.
  """
  num_simulations = tree.num_simulations
  root_actions = np.zeros(num_simulations, np.int64)
  root_child_returns = np.zeros(num_simulations, np.float64)
  for simulation in range(num_simulations):
    node = simulation + 1
    if tree.node_visits[node] == 0:
      raise ValueError(f"simulation {simulation} created no node (a max_depth cutoff); "
                       "the trace needs one new node per simulation")
    node_return = float(tree.raw_values[node])
    while tree.parents[node] != search.Tree.ROOT_INDEX:
      parent, action = tree.parents[node], tree.action_from_parent[node]
      node_return = (tree.children_rewards[parent, action]
                     + tree.children_discounts[parent, action] * node_return)
      node = parent
    root_actions[simulation] = tree.action_from_parent[node]
    root_child_returns[simulation] = node_return
  return SimulationTrace(root_actions, root_child_returns)


def root_after(tree: search.Tree, trace: SimulationTrace, num_done: int) -> search.Tree:
  """The tree with its root's children visits and values as they were after `num_done` simulations.

  Only the root's edges are rewound (what the root transform reads); the rest
  of the tree is left final.
  """
  done_actions = trace.root_actions[:num_done]
  visits = np.bincount(done_actions, minlength=tree.num_actions)
  return_sums = np.bincount(done_actions, weights=trace.root_child_returns[:num_done],
                            minlength=tree.num_actions)
  values = return_sums / np.maximum(visits, 1)  # unvisited: 0, as the transforms ignore them
  return tree.replace(
      children_visits=_with_root_row(tree.children_visits, visits.astype(tree.children_visits.dtype)),
      children_values=_with_root_row(tree.children_values, values.astype(tree.children_values.dtype)))


def _with_root_row(array, row):
  array = array.copy()
  array[search.Tree.ROOT_INDEX] = row
  return array


def root_scores(tree: search.Tree) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Root `(Q [A], sigma(completed Q) [A], g + logits + sigma [A])` of this tree.

  sigma comes from `qtransform_completed_by_mix_value` with its defaults, the
  transform `gumbel_muzero_policy` uses; the root logits are already shifted to max 0.
  """
  qvalues = np.asarray(tree.qvalues(search.Tree.ROOT_INDEX))
  sigma = np.asarray(qtransforms.qtransform_completed_by_mix_value(tree, search.Tree.ROOT_INDEX))
  scores = tree.extra_data.root_gumbel + tree.children_prior_logits[0] + sigma
  return qvalues, sigma, scores


class PhaseRow(NamedTuple):
  """One survivor of a phase: its visits in the phase and in all, and its Q and
  g + logits + sigma after the phase; `goes_on` if it survives into the next one."""
  action: int
  visits_in_phase: int
  visits: int
  qvalue: float
  score: float
  goes_on: bool


class PhaseRecord(NamedTuple):
  """One Sequential Halving phase as it happened: its schedule and its survivors at its end."""
  phase: Phase
  last_simulation: int
  rows: Tuple[PhaseRow, ...]


def reconstruct_phases(tree: search.Tree, trace: SimulationTrace, num_considered: int):
  """Each phase's survivors (the root actions its simulations took), with their
  visits, Q and score g + logits + sigma after the phase's last simulation.

  `goes_on` marks the survivors of the next phase (in the last phase: the most
  visited actions, among which the final action is chosen).
  """
  phases = search.sequential_halving_phases(num_considered, tree.num_simulations)
  records = []
  for index, phase in enumerate(phases):
    end = phase.first_simulation + len(phase.considered_visits)
    phase_actions = trace.root_actions[phase.first_simulation:end]
    rewound = root_after(tree, trace, end)
    visits = rewound.children_visits[0]
    qvalues, _, scores = root_scores(rewound)
    if index + 1 < len(phases):
      next_phase = phases[index + 1]
      next_end = next_phase.first_simulation + len(next_phase.considered_visits)
      going_on = set(trace.root_actions[next_phase.first_simulation:next_end].tolist())
    else:
      going_on = set(np.flatnonzero(visits == visits.max()).tolist())
    survivors = sorted(set(phase_actions.tolist()), key=lambda action: (-visits[action], -scores[action]))
    rows = tuple(PhaseRow(action, int(np.sum(phase_actions == action)), int(visits[action]),
                          float(qvalues[action]), float(scores[action]), action in going_on)
                 for action in survivors)
    records.append(PhaseRecord(phase, end - 1, rows))
  return records


# ---------------------------------------------------------------------------
# The report.


def format_table(headers, rows) -> str:
  """Right-aligned columns, a rule under the header."""
  cells = [list(map(str, headers))] + [[str(cell) for cell in row] for row in rows]
  widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
  lines = ["  ".join(cell.rjust(width) for cell, width in zip(row, widths)).rstrip() for row in cells]
  lines.insert(1, "  ".join("-" * width for width in widths))
  return "\n".join(lines)


def format_report(config, prior_name: str, timestep, output: search.PolicyOutput) -> str:
  """The five sections, as text."""
  tree = first_tree(output)
  max_num_items = timestep.observation.action_mask.shape[-1]
  pair = lambda action: "({},{})".format(*divmod(int(action), max_num_items))
  num_considered = num_considered_actions(tree, config.max_num_considered_actions)
  considered = gumbel_top_k(tree, num_considered)
  logits = tree.children_prior_logits[0]
  gumbel = tree.extra_data.root_gumbel
  observation = jax.tree.map(lambda leaf: np.asarray(leaf[0]), timestep.observation)
  items_left = int(np.sum(observation.items_mask & ~observation.items_placed))
  num_valid = int(np.sum(observation.action_mask))
  sections = []

  sections.append("\n".join([
      "1. State and Gumbel-Top-m",
      f"seed {config.seed}, after {config.inspect_num_steps} greedy steps "
      f"(largest_item_deepest_bottom_left); prior: {prior_name}",
      f"items left {items_left} of {int(np.sum(observation.items_mask))}, "
      f"utilization so far {float(timestep.extras['volume_utilization'][0]):.4f}, "
      f"valid actions {num_valid} of {tree.num_actions}, root value (prior) {float(tree.raw_values[0]):.4f}",
      f"num_simulations n={tree.num_simulations}, considered m=min({config.max_num_considered_actions}, "
      f"{num_valid})={num_considered}, gumbel_scale={config.gumbel_scale}",
      "actions are (ems, item); logits are the masked root logits (max 0), g the Gumbel noise "
      "(tree.extra_data.root_gumbel)",
      format_table(["rank", "action", "(ems,item)", "logit", "g", "logit+g"],
                   [(rank + 1, action, pair(action), f"{logits[action]:.4f}", f"{gumbel[action]:.4f}",
                     f"{logits[action] + gumbel[action]:.4f}")
                    for rank, action in enumerate(considered)]),
  ]))

  trace = trace_simulations(tree)
  lines = [
      "2. Sequential Halving phases (reconstructed from the tree)",
      "simulation s created node s+1: its path gives the root action of s and the return it backed up;",
      "visits, Q and score = g + logit + sigma(completed Q) are as they stood after each phase's last simulation;",
      "'>' marks the survivors of the next phase (last phase: the most visited, the final candidates)",
  ]
  for number, record in enumerate(reconstruct_phases(tree, trace, num_considered), start=1):
    phase = record.phase
    lines.append("")
    num_phase_simulations = len(phase.considered_visits)
    cut = ("" if num_phase_simulations == phase.num_considered * phase.visits_per_action
           else f" (the budget ends after {num_phase_simulations} simulations)")
    lines.append(f"phase {number}: simulations {phase.first_simulation}..{record.last_simulation}, "
                 f"{phase.num_considered} considered, {phase.visits_per_action} visit(s) each{cut}")
    lines.append(format_table(
        ["", "action", "(ems,item)", "visits in phase", "visits", "Q", "score"],
        [(">" if row.goes_on else "", row.action, pair(row.action), row.visits_in_phase, row.visits,
          f"{row.qvalue:.4f}", f"{row.score:.4f}") for row in record.rows]))
  sections.append("\n".join(lines))

  visits = tree.children_visits[0]
  qvalues, sigma, scores = root_scores(tree)
  prior_probs = np.asarray(jax.nn.softmax(logits))
  mixed_value = float(qtransforms.compute_mixed_value(tree.raw_values[0], qvalues, visits, prior_probs))
  completed_qvalues = np.asarray(qtransforms.complete_qvalues(qvalues, visits, mixed_value))
  chosen = int(output.action[0])
  sections.append("\n".join([
      "3. Completed Q and sigma at the end",
      f"v_mix = {mixed_value:.4f} fills the unvisited actions; sigma(q) = (c_visit + max N) * c_scale * q "
      f"with c_visit = {_transform_default('maxvisit_init')}, c_scale = {_transform_default('value_scale')}, "
      f"max N = {int(visits.max())},",
      "q = completed Q min-max rescaled over all actions",
      format_table(["action", "(ems,item)", "N", "Q", "completed Q", "sigma", "g+logit+sigma", ""],
                   [(action, pair(action), visits[action],
                     f"{qvalues[action]:.4f}" if visits[action] else "-",
                     f"{completed_qvalues[action]:.4f}", f"{sigma[action]:.4f}", f"{scores[action]:.4f}",
                     "chosen" if action == chosen else "")
                    for action in considered]),
  ]))

  action_weights = np.asarray(output.action_weights[0])
  num_top = min(NUM_TOP_ACTIONS, num_valid)
  by_improved = np.argsort(-action_weights, kind="stable")[:num_top]
  by_prior = np.argsort(-np.where(tree.root_invalid_actions.astype(bool), -1.0, prior_probs),
                        kind="stable")[:num_top]
  sections.append("\n".join([
      "4. Improved policy pi' = softmax(logit + sigma) (action_weights) next to the prior pi",
      format_table(["rank", "pi' action", "(ems,item)", "pi'", "pi", "N", "|", "pi action", "(ems,item)", "pi"],
                   [(rank + 1, improved, pair(improved), f"{action_weights[improved]:.4f}",
                     f"{prior_probs[improved]:.4f}", visits[improved], "|",
                     prior, pair(prior), f"{prior_probs[prior]:.4f}")
                    for rank, (improved, prior) in enumerate(zip(by_improved, by_prior))]),
  ]))

  ems_id, item_id = divmod(chosen, max_num_items)
  items = observation.items
  ems = observation.ems
  sections.append("\n".join([
      "5. Chosen action",
      f"action {chosen} = (ems {ems_id}, item {item_id}): argmax of g + logit + sigma among the "
      f"{int(np.sum(visits == visits.max()))} action(s) with the most visits (N={int(visits.max())})",
      f"item {item_id} size (x,y,z) = ({items.x_len[item_id]:.3f}, {items.y_len[item_id]:.3f}, "
      f"{items.z_len[item_id]:.3f}) at EMS {ems_id} corner (x1,y1,z1) = "
      f"({ems.x1[ems_id]:.3f}, {ems.y1[ems_id]:.3f}, {ems.z1[ems_id]:.3f}); "
      f"reward {tree.children_rewards[0, chosen]:.4f}, Q {qvalues[chosen]:.4f}",
  ]))
  return "\n\n".join(sections)


def _transform_default(name):
  """A default of `qtransform_completed_by_mix_value` (the one `gumbel_muzero_policy` uses)."""
  return signature(qtransforms.qtransform_completed_by_mix_value).parameters[name].default


# ---------------------------------------------------------------------------
# The tree as a picture.


def tree_to_dot(tree: search.Tree, max_num_items: int, chosen_action: int) -> str:
  """Graphviz dot of an unbatched tree: every node reached (N, value), every edge to it
  ((ems,item), prior probability, reward); the chosen root edge drawn bold, nodes
  past the end of the episode (reached with discount 0) dashed."""
  used = np.flatnonzero(tree.node_visits > 0)
  lines = ["digraph search_tree {", '  node [shape=box, fontname="monospace"];',
           '  edge [fontname="monospace", fontsize=10];']
  for node in used:
    parent, action = tree.parents[node], tree.action_from_parent[node]
    ended = parent != search.Tree.NO_PARENT and tree.children_discounts[parent, action] == 0
    style = ", style=dashed" if ended else ""
    lines.append(f'  n{node} [label="#{node}\\nN={tree.node_visits[node]}  v={tree.node_values[node]:.3f}"'
                 f'{style}];')
  for node in used:
    parent, action = tree.parents[node], tree.action_from_parent[node]
    if parent == search.Tree.NO_PARENT:
      continue
    prior_prob = np.asarray(jax.nn.softmax(tree.children_prior_logits[parent]))[action]
    bold = ", penwidth=3" if parent == search.Tree.ROOT_INDEX and action == chosen_action else ""
    lines.append(f'  n{parent} -> n{node} [label="({action // max_num_items},{action % max_num_items})'
                 f'\\np={prior_prob:.3f}  r={tree.children_rewards[parent, action]:.3f}"{bold}];')
  lines.append("}")
  return "\n".join(lines) + "\n"


def write_tree(path: str, dot_text: str) -> Tuple[Path, ...]:
  """Writes the dot file, and a PNG beside it when Graphviz's `dot` is installed; returns what it wrote."""
  dot_path = Path(path)
  dot_path.parent.mkdir(parents=True, exist_ok=True)
  dot_path.write_text(dot_text)
  dot_binary = shutil.which("dot")
  if dot_binary is None:
    return (dot_path,)
  png_path = dot_path.with_suffix(".png")
  subprocess.run([dot_binary, "-Tpng", str(dot_path), "-o", str(png_path)], check=True)
  return dot_path, png_path


def main(config):
  """`--mode=inspect`: search once, print the report, optionally write the tree."""
  env = make_env(config)
  network, params, prior_name = load_prior(config)
  state, timestep = mid_episode_state(env, config)
  output = run_search(config, env, network, params, state, timestep)
  print(format_report(config, prior_name, timestep, output))
  if config.tree_out:
    max_num_items = timestep.observation.action_mask.shape[-1]
    dot_text = tree_to_dot(first_tree(output), max_num_items, int(output.action[0]))
    written = write_tree(config.tree_out, dot_text)
    print("\ntree written to " + ", ".join(map(str, written)))
