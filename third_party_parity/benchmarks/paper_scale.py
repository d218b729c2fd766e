"""Benchmark: one training iteration at the blog's scale (`distill.flags` + `paper.flags`), purepi only.

No reference library trains, so the figure to compare with is the blog's: about
20k collection decisions/s on 4 GPUs. The run is exactly `run.py`'s iteration
(the distillation trainer's `collect` and `update` under pmap over every
device), timed apart from compilation; only the rollout batch (and with it the
training batch, kept at the paper's 4 steps per episode) may be cut, which a
CPU needs: one full-size iteration takes about half an hour on 2 cores.

  python -m third_party_parity.benchmarks paper_scale [--rollout_batch_size=N] [--repeats=2]

Without `--rollout_batch_size`: the paper's 1024 episodes on an accelerator, 32 on a CPU.
"""
import dataclasses
import time
from pathlib import Path

import jax
import numpy as np

from purepi.cli import train
from purepi.cli.app import parse_config
from purepi.devices import AXIS_NAME, all_devices, per_device_keys, replicate
from purepi.env.make import make_env
from purepi.networks import make_network

ROOT = Path(__file__).resolve().parents[2]
BLOG_DECISIONS_PER_S = 20_000  # the blog, on 4 GPUs
CPU_ROLLOUT_BATCH = 32


def paper_config(rollout_batch_size=None, extra_flags=()):
  """`distill.flags` overlaid with `paper.flags` (and `extra_flags`), the rollout (and training) batch cut if asked."""
  config = parse_config([f"--flagfile={ROOT / 'distill.flags'}", f"--flagfile={ROOT / 'paper.flags'}",
                         "--progress=false", *extra_flags])
  if rollout_batch_size is None and jax.devices()[0].platform == "cpu":
    rollout_batch_size = CPU_ROLLOUT_BATCH
  if rollout_batch_size is not None:
    config = with_rollout_batch(config, rollout_batch_size)
  return config


def with_rollout_batch(config, rollout_batch_size):
  """`config` collecting `rollout_batch_size` episodes per iteration, its training batch cut (or grown)
  to keep the same number of decisions per episode in each batch."""
  steps_per_episode = config.training_batch_size // config.rollout_batch_size
  return dataclasses.replace(config, rollout_batch_size=rollout_batch_size,
                             training_batch_size=steps_per_episode * rollout_batch_size)


def run_paper_scale_benchmark(rollout_batch_size=None, num_repeats=3, extra_flags=()):
  """Prints and returns compile time, seconds per iteration and collection decisions/s."""
  config = paper_config(rollout_batch_size, extra_flags)
  devices = all_devices()
  print(f"paper scale: {config.num_layers} layers, model {config.num_heads * config.key_size}, "
        f"{config.num_simulations} simulations over {config.max_num_considered_actions} actions, "
        f"rollout {config.rollout_batch_size} episodes, training batch {config.training_batch_size}, "
        f"{len(devices)} x {devices[0].device_kind} ({devices[0].platform})", flush=True)
  result = time_iterations(config, num_repeats)
  print(f"first iteration (compile + run) {result['first_iteration_s (compile + run)']:.1f} s | per iteration, "
        f"median of {num_repeats}: "
        f"{result['iteration_s']:.2f} s (collect {result['collect_s']:.2f} s, "
        f"{result['decisions_per_iteration']} searched decisions) | collection "
        f"{result['collection_decisions_per_s']:,.0f} decisions/s | blog: {BLOG_DECISIONS_PER_S:,} "
        f"decisions/s on 4 GPUs (ratio {result['collection_decisions_per_s'] / BLOG_DECISIONS_PER_S:.3f})")
  return result


def time_iterations(config, num_repeats):
  """The first iteration (compile + run), then the medians over `num_repeats` iterations of the
  iteration, its collect, and collection decisions/s: run.py's distillation iteration on every device."""
  devices = all_devices()
  env, network = make_env(config, training=True), make_network(config)
  algorithm = train.ALGORITHMS["distill"](config, env, network)
  collect = jax.pmap(algorithm.collect, axis_name=AXIS_NAME, devices=devices)
  update = jax.pmap(algorithm.update, axis_name=AXIS_NAME, devices=devices)
  key = jax.random.PRNGKey(0)
  state = replicate(algorithm.init(key), devices)

  def iteration(state, key):
    collect_key, update_key = jax.random.split(key)
    start = time.perf_counter()
    batch, metrics = jax.block_until_ready(collect(state, per_device_keys(collect_key, devices)))
    collect_s = time.perf_counter() - start
    state, _ = jax.block_until_ready(update(state, batch, per_device_keys(update_key, devices)))
    return state, collect_s, time.perf_counter() - start, int(metrics["env_steps"][0])

  start = time.perf_counter()
  state, _, _, _ = iteration(state, jax.random.fold_in(key, 0))  # compiles collect and update
  first_s = time.perf_counter() - start
  collect_seconds, iteration_seconds, decisions = [], [], []
  for repeat in range(1, num_repeats + 1):
    state, collect_s, iteration_s, env_steps = iteration(state, jax.random.fold_in(key, repeat))
    collect_seconds.append(collect_s)
    iteration_seconds.append(iteration_s)
    decisions.append(env_steps)
  return {
      "first_iteration_s (compile + run)": first_s,
      "iteration_s": float(np.median(iteration_seconds)),
      "collect_s": float(np.median(collect_seconds)),
      "decisions_per_iteration": int(np.median(decisions)),
      "collection_decisions_per_s": float(np.median(np.asarray(decisions) / np.asarray(collect_seconds))),
  }


def bench_paper_scale(args):
  """Entry for `python -m third_party_parity.benchmarks paper_scale`."""
  return run_paper_scale_benchmark(args.rollout_batch_size, args.repeats or 2)
