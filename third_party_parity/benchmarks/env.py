"""Benchmark: purepi.env vs Jumanji 1.1.2's BinPack-v2, batched steps per second in one process.

Both environments replay the same random valid actions from the same keys; the
trajectories are checked identical before the speeds are compared.

  python -m third_party_parity.benchmarks env [--batch_size=1024] [--repeats=5]
"""
import time
import warnings

import jax
import numpy as np

import purepi.env
from third_party_parity.comparison import ENV_FLOAT_TOLERANCE, assert_same, random_valid_action


def _timed_compile(fn, *args):
  start = time.perf_counter()
  compiled = jax.jit(fn).lower(*args).compile()
  return compiled, time.perf_counter() - start


def _best_time(compiled, args, repeats):
  """Fastest of `repeats` runs, in seconds, and the last result."""
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    result = jax.block_until_ready(compiled(*args))
    times.append(time.perf_counter() - start)
  return min(times), result


def bench_env(args):
  """Steps `batch_size` episodes of Jumanji's BinPack-v2 and of purepi's, same actions."""
  import jumanji
  compare_env_speeds(jumanji.make("BinPack-v2"), purepi.env.BinPack(), args.batch_size or 1024, args.repeats or 5,
                     args.seed)


def compare_env_speeds(theirs, ours, batch_size, repeats, seed=0, quiet=False):
  """Replays the same random valid actions in both environments (`batch_size` episodes of the
  instances of `seed`), checks the trajectories identical and returns `{name: steps/s}`, best of
  `repeats`; prints each side unless `quiet`."""
  say = (lambda *line, **options: None) if quiet else print
  # Jumanji's EMS update writes float32 into int32 arrays, which JAX flags at trace time.
  warnings.filterwarnings("ignore", "scatter inputs have incompatible types", FutureWarning)
  num_steps = ours.generator.max_num_items
  keys = jax.random.split(jax.random.PRNGKey(seed), batch_size)

  # The actions: random valid ones, recorded once from purepi's episodes.
  def record_actions(keys):
    state, timestep = jax.vmap(ours.reset)(keys)

    def one_step(carry, step_key):
      state, timestep = carry
      action = jax.vmap(random_valid_action)(jax.random.split(step_key, batch_size), timestep.observation)
      return jax.vmap(ours.step)(state, action), action

    _, actions = jax.lax.scan(one_step, (state, timestep), jax.random.split(jax.random.PRNGKey(1), num_steps))
    return actions

  actions = jax.jit(record_actions)(keys)

  def replay(env):
    """(keys, actions) -> (final states, every time step), as a rollout would collect."""
    def run(keys, actions):
      state, _ = jax.vmap(env.reset)(keys)

      def step(state, action):
        state, timestep = jax.vmap(env.step)(state, action)
        return state, timestep

      return jax.lax.scan(step, state, actions)
    return run

  say(f"env benchmark: {batch_size} episodes x {num_steps} steps, jax {jax.__version__}, "
      f"{jax.devices()[0].platform}, best of {repeats}", flush=True)
  results, speeds = {}, {}
  for name, env in (("jumanji", theirs), ("purepi", ours)):
    compiled, compile_s = _timed_compile(replay(env), keys, actions)
    run_s, results[name] = _best_time(compiled, (keys, actions), repeats)
    speeds[name] = batch_size * num_steps / run_s
    say(f"  {name:8s} compile {compile_s:6.2f} s   run {run_s * 1e3:8.1f} ms   {speeds[name]:12,.0f} steps/s",
        flush=True)
  assert_same(results["purepi"], results["jumanji"], "trajectory", atol=ENV_FLOAT_TOLERANCE)
  packed = np.asarray(results["purepi"][1].extras["packed_items"][-1])
  say(f"  the same results (final states, observations, rewards, discounts, extras of every step; "
      f"floats to {ENV_FLOAT_TOLERANCE:g}); mean items packed {packed.mean():.2f}")
  say(f"  speed-up purepi / jumanji: {speeds['purepi'] / speeds['jumanji']:.1f}x")
  return speeds
