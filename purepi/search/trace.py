"""What one Gumbel MuZero search did, read back from its final tree (unbatched, numpy).

The search keeps no history, only the final tree. It is enough: simulation s
created node s + 1 (the tree allocates one node per simulation), so following
node s + 1's parents gives the root action of simulation s and the return it
backed into that root child; the root children's visits and values after any
simulation follow from these (`root_after`), and with them each Sequential
Halving phase as it happened (`reconstruct_phases`, phase boundaries from
`purepi.search.sequential_halving_phases`). `tree_to_dot` draws the tree.
`--mode=inspect` (`purepi.cli.inspect`) prints all of it.
"""
from typing import NamedTuple, Tuple

import jax
import numpy as np

from purepi import search
from purepi.search import qtransforms
from purepi.search.seq_halving import Phase


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


def root_scores(tree: search.Tree, value_scale: float = 0.1) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Root `(Q [A], sigma(completed Q) [A], g + logits + sigma [A])` of this tree.

  sigma comes from `qtransform_completed_by_mix_value` with the search's
  `value_scale` (c_scale), the transform `gumbel_muzero_policy` uses; the root
  logits are already shifted to max 0.
  """
  qvalues = np.asarray(tree.qvalues(search.Tree.ROOT_INDEX))
  sigma = np.asarray(qtransforms.qtransform_completed_by_mix_value(
      tree, search.Tree.ROOT_INDEX, value_scale=value_scale))
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


def reconstruct_phases(tree: search.Tree, trace: SimulationTrace, num_considered: int,
                       value_scale: float = 0.1):
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
    qvalues, _, scores = root_scores(rewound, value_scale)
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


def action_label(action: int, grid_shape) -> str:
  """A flat action as its grid coordinates: "(ems,item)", or "(ems,item,orientation)" with rotations."""
  return "(" + ",".join(str(int(index)) for index in np.unravel_index(int(action), tuple(grid_shape))) + ")"


def tree_to_dot(tree: search.Tree, grid_shape, chosen_action: int) -> str:
  """Graphviz dot of an unbatched tree: every node reached (N, value), every edge to it
  ((ems,item) as `action_label` writes it, prior probability, reward); the chosen root edge drawn bold, nodes
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
    lines.append(f'  n{parent} -> n{node} [label="{action_label(action, grid_shape)}'
                 f'\\np={prior_prob:.3f}  r={tree.children_rewards[parent, action]:.3f}"{bold}];')
  lines.append("}")
  return "\n".join(lines) + "\n"
