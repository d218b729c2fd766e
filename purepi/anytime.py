"""Anytime packing: the best complete plan of one load found within a time limit.

`pack_anytime` makes complete plans one after another and keeps the best (the first of equal ones):

  1. every deterministic heuristic (`HEURISTICS` but the random one, and `SPACE_FIRST_HEURISTICS`),
     boxes turned every way their rules allow: always, whatever the limit, so the plan is never
     worse than the best heuristic's on the same load and rules;
  2. the greedy network;
  3. the network with the evaluation's search (`--eval_num_simulations` over
     `--eval_max_num_considered_actions`, no root noise);
  4. while time remains: a wider search (twice the simulations over four times the considered
     actions), then the evaluation's search with root Gumbel noise, a new draw each time.

A search starts only when the time left covers its estimated duration (the previous search's, scaled
by the ratio of their simulations; before any, the greedy network's times the simulations plus one).
The limit counts from the call, compilation included. Every plan honours the environment's rules:
the support fraction and each box's orientation rule; the network's own plans turn boxes only as it
was trained to (`--rotations`).
"""
import dataclasses
import itertools
import time

import jax
from tqdm import tqdm

from purepi.config import ANYTIME_WIDER_CONSIDERED_ACTIONS, ANYTIME_WIDER_SIMULATIONS
from purepi.env.make import make_env
from purepi.networks import make_network
from purepi.policies.heuristics import HEURISTICS, SPACE_FIRST_HEURISTICS
from purepi.policies.load_plan import LoadPlan, episode_player, load_plan
from purepi.policies.search_policy import make_greedy_policy, make_search_policy

# The heuristics tried first, in this order.
ANYTIME_HEURISTICS = {name: policy for name, policy in {**HEURISTICS, **SPACE_FIRST_HEURISTICS}.items()
                      if name != "random"}
GUMBEL_SCALE_OF_REDRAWS = 1.0


def pack_anytime(config, env, params, rows=None, progress: bool = False) -> LoadPlan:
  """The best plan of `env`'s load (the instance of `config.csv_path` or `rows`) found in
  `config.time_limit` seconds by the plans of the module docstring; it records the seconds spent and
  every plan tried (`LoadPlan.seconds`, `LoadPlan.tried`)."""
  start = time.monotonic()
  elapsed = lambda: time.monotonic() - start
  instance_key, policy_key = jax.random.split(jax.random.PRNGKey(config.seed))
  names = env.generator.item_names
  best, tried = None, []

  with tqdm(total=round(config.time_limit), desc="packing", unit="s", leave=False, disable=not progress,
            dynamic_ncols=True, bar_format="{l_bar}{bar}| {n:.0f}/{total}s {postfix}") as bar:

    def keep(name, play, *arguments):
      nonlocal best
      began = elapsed()
      plan = load_plan(*play(instance_key, *arguments), names, name)
      tried.append({"policy": name, "utilization": plan.utilization, "seconds": elapsed() - began})
      if best is None or plan.utilization > best.utilization:
        best = plan
      bar.n = min(elapsed(), bar.total)
      bar.set_postfix_str(f"best {best.utilization:.1%} ({best.policy})")
      return tried[-1]["seconds"]

    heuristics = list(ANYTIME_HEURISTICS.values())
    turning_env = env if env.rotations == "all" else make_env(dataclasses.replace(config, rotations="all"), rows)
    play_heuristic = episode_player(
        turning_env, lambda key, state, timestep, index: jax.lax.switch(index, heuristics, key, state, timestep))
    for index, name in enumerate(ANYTIME_HEURISTICS):
      keep(f"heuristic {name}", play_heuristic, policy_key, index)

    network = make_network(config)
    greedy_seconds = keep("greedy network", episode_player(env, make_greedy_policy(env, network, params)),
                          policy_key)
    searches = search_schedule(config)
    estimate, simulations = greedy_seconds * (config.eval_num_simulations + 1), config.eval_num_simulations
    for name, search_config, draws in searches:
      # A search's time grows with its simulations: scale the last one's to this one's.
      estimate *= search_config.eval_num_simulations / simulations
      simulations = search_config.eval_num_simulations
      play = episode_player(env, make_search_policy(
          env, network, params, num_simulations=search_config.eval_num_simulations,
          max_num_considered_actions=search_config.eval_max_num_considered_actions,
          gumbel_scale=search_config.eval_gumbel_scale, discount=config.discount,
          value_scale=search_config.eval_search_value_scale))
      for draw in draws:
        if elapsed() + estimate > config.time_limit:
          break
        estimate = keep(name if draw is None else f"{name}, draw {draw}", play,
                        policy_key if draw is None else jax.random.fold_in(policy_key, draw))
  return dataclasses.replace(best, seconds=elapsed(), tried=tuple(tried))


def search_schedule(config):
  """`(name, config, draws)` of the searches tried after the greedy network, in order: draws None is
  one search with the run's policy key, else the root-noise draws 1, 2, ... (unbounded)."""
  simulations, considered = config.eval_num_simulations, config.eval_max_num_considered_actions
  wider = dataclasses.replace(config, eval_num_simulations=simulations * ANYTIME_WIDER_SIMULATIONS,
                              eval_max_num_considered_actions=considered * ANYTIME_WIDER_CONSIDERED_ACTIONS)
  redraws = dataclasses.replace(config, eval_gumbel_scale=GUMBEL_SCALE_OF_REDRAWS)
  return ((f"network + Gumbel MuZero search, {simulations} simulations", config, [None]),
          (f"network + wider search, {wider.eval_num_simulations} simulations over "
           f"{wider.eval_max_num_considered_actions} actions", wider, [None]),
          (f"network + search with root noise, {simulations} simulations", redraws, itertools.count(1)))
