"""Benchmark: where an iteration of the main job goes, and the network's speed against batch size.

  python -m third_party_parity.benchmarks throughput [--repeats=3]

On `distill.flags` (two CPU devices, 64 episodes of 20 items, 16 simulations per decision):
  network    forward states/s of the main job's network at batch 16, 32, ..., 1024 on one device;
  iteration  one collect + update of run.py's trainer on every device (median of `--repeats`), and
             its parts measured apart at one device's share of the iteration (32 episodes): the
             network's forward passes (one per simulation and one at the root, each decision), the
             environment's steps (as many), the search alone (a trivial model, 800 actions) and the
             update (the iteration minus its collect); each also as a fraction of the iteration.
             Parts measured apart need not add up to the whole: XLA fuses them differently inside one
             program, and one device's program may use the other core while it is idle.
"""
from pathlib import Path

import jax
import numpy as np

from purepi.cli.app import parse_config
from purepi.evaluation.protocol import make_env
from purepi.networks import make_network
from third_party_parity.benchmarks.paper_scale import time_iterations
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
