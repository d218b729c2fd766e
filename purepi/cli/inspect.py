"""`--mode=inspect`: one Gumbel MuZero search on a BinPack state, told step by step.

  python run.py --mode=inspect                                   # uniform prior
  python run.py --mode=inspect --checkpoint=workdirs/distill     # trained prior
  python run.py --mode=inspect --tree_out=/tmp/tree.dot          # + Graphviz (and PNG)

The state is a fresh instance from `--seed`, advanced `--inspect_num_steps`
steps by a greedy heuristic so the search starts mid-episode. The search has
`--inspect_num_simulations` (32) simulations over `--inspect_num_considered_actions`
(8) Gumbel-Top-k actions, so Sequential Halving runs several phases. The environment
is its own model: the search embedding is the env `State`, and every node's
prior and value come from one prior source (uniform, or the trained network).

The report follows the search in order:
  1. the state and the Gumbel-Top-m considered actions (logit + g);
  2. each Sequential Halving phase: survivors, visits, Q, score;
  3. completed Q and sigma(completed Q) at the end;
  4. the improved policy pi' next to the prior pi;
  5. the chosen action.

The search itself keeps no history, only the final tree; section 2 is
reconstructed from it by `purepi.search.trace`.
"""
import shutil
import subprocess
from inspect import signature
from pathlib import Path
from typing import Tuple

import jax
import jax.numpy as jnp
import numpy as np

from purepi import search
from purepi.search.trace import (action_label, first_tree, gumbel_top_k, num_considered_actions,
                                     reconstruct_phases, root_scores, trace_simulations, tree_to_dot)
from purepi.errors import UsageError
from purepi.env.make import make_env
from purepi.masking import mask_invalid_actions
from purepi.networks import make_network
from purepi.policies import search_policy
from purepi.policies.heuristics import largest_item_deepest_bottom_left
from purepi.policies.rollout import flat_invalid_actions, rollout
from purepi.search import qtransforms
from purepi.training.trained_networks import load_params

# How many actions section 4 lists for pi' and for pi.
NUM_TOP_ACTIONS = 8


class UniformPrior:
  """Stands in for the network when no checkpoint is given: equal logits over
  the valid actions and value 0, with the network's `apply(params, observation)`."""

  def apply(self, params, observation):
    del params
    invalid_actions = flat_invalid_actions(observation)
    logits = mask_invalid_actions(jnp.zeros(invalid_actions.shape, jnp.float32), invalid_actions)
    return logits, jnp.zeros(invalid_actions.shape[:-1], jnp.float32)


def load_prior(config):
  """`(network, params, description)`: the checkpoint's trained network if given, else `UniformPrior`."""
  if not config.checkpoint:
    return UniformPrior(), (), "uniform over valid actions, value 0"
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
    raise UsageError(f"--inspect_num_steps={config.inspect_num_steps} ends the episode of seed "
                     f"{config.seed}: no action is left to search; use fewer steps")
  return state, timestep


def run_search(config, env, network, params, state, timestep) -> search.PolicyOutput:
  """The trainer's search (`search_policy.run_search`) once, with the Config's search settings."""
  search_key = jax.random.split(jax.random.PRNGKey(config.seed))[1]
  search_once = jax.jit(lambda key, state, timestep: search_policy.run_search(
      env, network, params, key, state, timestep, config.inspect_num_simulations,
      config.inspect_num_considered_actions, config.gumbel_scale, config.discount,
      value_scale=config.search_value_scale))
  return search_once(search_key, state, timestep)


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
  grid_shape = timestep.observation.action_mask.shape[1:]
  pair = lambda action: action_label(action, grid_shape)
  num_considered = num_considered_actions(tree, config.inspect_num_considered_actions)
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
      f"num_simulations n={tree.num_simulations}, considered m=min({config.inspect_num_considered_actions}, "
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
      "'>' marks the survivors of the next phase (last phase: the most visited, the final candidates);",
      "why these survive: each simulation visits, among the actions still short of the phase's visits, the one with",
      "the highest score at that moment; sigma grows with the visits during the phase, so the survivors are the best",
      "by the score at each pick, which can differ from the score after the phase (rows: by visits, then score)",
  ]
  for number, record in enumerate(reconstruct_phases(tree, trace, num_considered, config.search_value_scale), start=1):
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
  qvalues, sigma, scores = root_scores(tree, config.search_value_scale)
  prior_probs = np.asarray(jax.nn.softmax(logits))
  mixed_value = float(qtransforms.compute_mixed_value(tree.raw_values[0], qvalues, visits, prior_probs))
  completed_qvalues = np.asarray(qtransforms.complete_qvalues(qvalues, visits, mixed_value))
  chosen = int(output.action[0])
  sections.append("\n".join([
      "3. Completed Q and sigma at the end",
      f"v_mix = {mixed_value:.4f} fills the unvisited actions; sigma(q) = (c_visit + max N) * c_scale * q "
      f"with c_visit = {_transform_default('maxvisit_init')}, c_scale = {config.search_value_scale}, "
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

  ems_id, item_id = (int(index) for index in np.unravel_index(chosen, grid_shape)[:2])
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
    dot_text = tree_to_dot(first_tree(output), timestep.observation.action_mask.shape[1:], int(output.action[0]))
    written = write_tree(config.tree_out, dot_text)
    print("\ntree written to " + ", ".join(map(str, written)))
