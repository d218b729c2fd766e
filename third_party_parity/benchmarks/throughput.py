"""Benchmarks: where an iteration of the main job goes, the network's speed against batch size, and
what an iteration costs when training over larger or mixed sizes.

  python -m third_party_parity.benchmarks throughput [--repeats=3]
  python -m third_party_parity.benchmarks train_sizes [--sizes=20,50,100] [--rollout_batch_size=16] [--repeats=1]

On `distill.flags` (two CPU devices, 64 episodes of 20 items, 16 simulations per decision):
  network    forward states/s of the main job's network at batch 16, 32, ..., 1024 on one device;
  iteration  one collect + update of run.py's trainer on every device (median of `--repeats`), and
             its parts measured apart at one device's share of the iteration (32 episodes): the
             network's forward passes (one per simulation and one at the root, each decision), the
             environment's steps (as many), the search alone (a trivial model, 800 actions) and the
             update (the iteration minus its collect); each also as a fraction of the iteration.
             Parts measured apart need not add up to the whole: XLA fuses them differently inside one
             program, and one device's program may use the other core while it is idle.

`train_sizes` times run.py's distillation iteration (`distill.flags`, `--rollout_batch_size` episodes
on two devices) at the first size (at distill.flags's own EMS slots when that is its size), then for
each larger size n over the mixed sizes up to n (`--train_num_items`, padded to n), with
`purepi.planner`'s EMS slots for n and 2n observed.
"""
import dataclasses
from pathlib import Path

import jax
import numpy as np

from purepi.cli.app import parse_config
from purepi.env.make import make_env
from purepi.networks import make_network
from purepi.planner import OBSERVED_EMS_PER_ITEM, ems_slots
from third_party_parity.benchmarks.paper_scale import time_iterations, with_rollout_batch
from third_party_parity.benchmarks.search import run_search_benchmark
from third_party_parity.benchmarks.sizes import seconds_per_call
from third_party_parity.comparison import random_valid_action

ROOT = Path(__file__).resolve().parents[2]
NETWORK_BATCHES = (16, 32, 64, 128, 256, 512, 1024)


def median_seconds(function, args, repeats):
  """Median seconds of `repeats` calls of the compiled `function`, after a warm-up call."""
  return seconds_per_call(function, args, repeats)[1]


def observations(env, batch_size):
  states, timesteps = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), batch_size))
  return states, timesteps


def network_speeds(config, env, repeats):
  """`{batch: forward states/s}` of the network of `config` on `env`'s first observations."""
  network = make_network(config)
  _, timesteps = observations(env, NETWORK_BATCHES[-1])
  params = network.init(jax.random.PRNGKey(1), jax.tree.map(lambda leaf: leaf[:1], timesteps.observation))
  return {batch: batch / median_seconds(network.apply, (params, jax.tree.map(
      lambda leaf: leaf[:batch], timesteps.observation)), repeats) for batch in NETWORK_BATCHES}


def env_seconds_per_batch_step(env, batch_size, repeats):
  """Seconds of one batched `env.step` (random valid actions over whole episodes, per step)."""
  states, timesteps = observations(env, batch_size)
  num_steps = env.generator.max_num_items

  def episode(states, timesteps, key):
    def step(carry, step_key):
      state, timestep = carry
      action = jax.vmap(random_valid_action)(jax.random.split(step_key, batch_size), timestep.observation)
      return jax.vmap(env.step)(state, action), None
    return jax.lax.scan(step, (states, timesteps), jax.random.split(key, num_steps))[0][1].reward

  return median_seconds(episode, (states, timesteps, jax.random.PRNGKey(2)), repeats) / num_steps


def bench_throughput(args):
  repeats = args.repeats or 3
  config = parse_config([f"--flagfile={ROOT / 'distill.flags'}", "--progress=false"])
  env = make_env(config)
  devices = jax.devices()
  print(f"throughput: distill.flags, {len(devices)} x {devices[0].device_kind}, jax {jax.__version__}, "
        f"median of {repeats}", flush=True)
  speeds = network_speeds(config, env, repeats)
  print("network forward states/s by batch (one device): "
        + ", ".join(f"{batch}: {speed:,.0f}" for batch, speed in speeds.items()), flush=True)

  iteration = time_iterations(config, repeats)
  per_device = config.rollout_batch_size // len(devices)
  decisions = env.generator.max_num_items  # per episode, at most
  passes = config.num_simulations + 1  # network evaluations (and environment steps) per decision
  forward_s = per_device / speeds[per_device] if per_device in speeds else float("nan")
  parts = {
      "network": decisions * passes * forward_s,
      "environment": decisions * passes * env_seconds_per_batch_step(env, per_device, repeats),
      "search alone": decisions * per_device / run_search_benchmark(
          batch_sizes=(per_device,), num_actions=int(np.prod(env.action_grid_shape)),
          num_simulations=config.num_simulations, num_repeats=repeats)[per_device]["purepi"]["decisions_per_s"],
      "update": iteration["iteration_s"] - iteration["collect_s"],
  }
  print(f"iteration {iteration['iteration_s']:.2f} s (collect {iteration['collect_s']:.2f} s, "
        f"{iteration['collection_decisions_per_s']:,.0f} decisions/s; first, with compilation, "
        f"{iteration['first_iteration_s (compile + run)']:.1f} s); parts measured apart at one device's "
        f"{per_device} episodes: " + ", ".join(
            f"{name} {seconds:.2f} s ({seconds / iteration['iteration_s']:.0%})" for name, seconds in parts.items()),
        flush=True)
  return speeds, iteration, parts


def sized_config(config, num_items, mixed_sizes=()):
  """`config` at `num_items` (pack's EMS slots and observed EMSs for it, unless `config` is sized for it
  already), training over `mixed_sizes` if given."""
  if num_items == config.max_num_items and not mixed_sizes:
    return config
  return dataclasses.replace(config, max_num_items=num_items, max_num_ems=max(ems_slots(num_items), config.max_num_ems),
                             obs_num_ems=max(OBSERVED_EMS_PER_ITEM * num_items, config.obs_num_ems),
                             train_num_items=tuple(mixed_sizes))


def bench_train_sizes(args):
  repeats = args.repeats or 1
  sizes = [int(size) for size in (args.sizes or "20,50,100").split(",")]
  config = parse_config([f"--flagfile={ROOT / 'distill.flags'}", "--progress=false"])
  episodes = args.rollout_batch_size or 16
  config = with_rollout_batch(config, episodes)
  devices = jax.devices()
  print(f"train_sizes: distill.flags at {episodes} episodes per iteration, {len(devices)} x "
        f"{devices[0].device_kind}, median of {repeats}", flush=True)
  runs = [(f"{sizes[0]} items", sized_config(config, sizes[0]))]
  runs += [(f"mixed {','.join(map(str, sizes[:index]))}", sized_config(config, sizes[index - 1], sizes[:index]))
           for index in range(2, len(sizes) + 1)]
  results = {}
  for name, run_config in runs:
    result = time_iterations(run_config, repeats)
    results[name] = result
    print(f"{name:>16}: iteration {result['iteration_s']:.1f} s ({result['iteration_s'] / results[runs[0][0]]['iteration_s']:.1f}x "
          f"the first size's), collect {result['collect_s']:.1f} s, {result['decisions_per_iteration']} decisions, "
          f"first iteration with compilation {result['first_iteration_s (compile + run)']:.1f} s "
          f"({run_config.max_num_ems} EMS slots, {run_config.obs_num_ems} observed)", flush=True)
  return results
