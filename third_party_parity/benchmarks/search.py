"""Benchmark: purepi.search vs mctx 0.0.71, Gumbel MuZero decisions per second in one process.

A trivial model (zero rewards, values and logits, discount 1) isolates the
search itself. Both libraries get the same roots and keys; the outputs are
checked identical (whole tree, action, action_weights) before timing.

  python -m third_party_parity.benchmarks.search [--batch_sizes 64,1024] [--num_actions 800]
  python -m third_party_parity.benchmarks search [--repeats 5]      (through the dispatcher)
"""
import argparse
import time

import jax
import jax.numpy as jnp
import mctx
import numpy as np

import purepi.search
from purepi.search.search import instantiate_tree_from_root
from third_party_parity.comparison import assert_same


def _trivial_recurrent_fn(library, num_actions):
  def recurrent_fn(params, rng_key, action, embedding):
    del params, rng_key
    batch_size = action.shape[0]
    zeros = jnp.zeros([batch_size])
    return library.RecurrentFnOutput(
        reward=zeros, discount=jnp.ones([batch_size]),
        prior_logits=jnp.zeros([batch_size, num_actions]), value=zeros), embedding
  return recurrent_fn


def _make_search(library, batch_size, num_actions, num_simulations, with_tree):
  recurrent_fn = _trivial_recurrent_fn(library, num_actions)

  def decide(rng_key):
    logits_key, search_key = jax.random.split(rng_key)
    root = library.RootFnOutput(
        prior_logits=jax.random.normal(logits_key, [batch_size, num_actions]),
        value=jnp.zeros([batch_size]), embedding=jnp.zeros([batch_size]))
    output = library.gumbel_muzero_policy(None, search_key, root, recurrent_fn, num_simulations)
    if with_tree:
      return output
    return output.action, output.action_weights
  return jax.jit(decide)


def tree_bytes(tree) -> int:
  """Bytes of every array (or shape struct) of a (batched) search tree."""
  return sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree_util.tree_leaves(tree))


def working_tree_bytes(batch_size, num_actions, num_simulations) -> int:
  """Bytes of the `CompactTree` purepi's Gumbel MuZero search keeps during its simulations."""
  def allocate():
    root = purepi.search.RootFnOutput(prior_logits=jnp.zeros([batch_size, num_actions]),
                                      value=jnp.zeros([batch_size]), embedding=jnp.zeros([batch_size]))
    return instantiate_tree_from_root(
        root, num_simulations, jnp.zeros([batch_size, num_actions]),
        purepi.search.GumbelMuZeroExtraData(root_gumbel=jnp.zeros([batch_size, num_actions])))
  return tree_bytes(jax.eval_shape(allocate))


def _compile(decide):
  """(compiled function, seconds spent tracing + compiling)."""
  start = time.perf_counter()
  compiled = decide.lower(jax.random.PRNGKey(0)).compile()
  return compiled, time.perf_counter() - start


def bench_search(args):
  """Entry for `python -m third_party_parity.benchmarks search`: batch 64 and 1024, 800 actions, 32 simulations, `args.repeats` calls."""
  return run_search_benchmark(num_repeats=args.repeats or 5)


def run_search_benchmark(batch_sizes=(64, 1024), num_actions=800, num_simulations=32, num_repeats=5):
  """Prints and returns, per batch size, compile time and decisions/s of both libraries and their ratio.

  The two libraries' calls are interleaved and the median call time is used,
  so load from other processes affects both alike.
  """
  libraries = {"mctx": mctx, "purepi": purepi.search}
  results = {}
  print(f"Gumbel MuZero, trivial model, {num_actions} actions, {num_simulations} simulations, "
        f"{jax.devices()[0].platform}, median of {num_repeats} interleaved calls each")
  for batch_size in batch_sizes:
    full_outputs = {name: _make_search(library, batch_size, num_actions, num_simulations, with_tree=True)(
        jax.random.PRNGKey(123)) for name, library in libraries.items()}
    assert_same(full_outputs["purepi"], full_outputs["mctx"], "gumbel_muzero_policy")
    bytes_per_tree = tree_bytes(full_outputs["purepi"].search_tree) // batch_size
    working_bytes_per_tree = working_tree_bytes(batch_size, num_actions, num_simulations) // batch_size
    del full_outputs
    compiled, compile_seconds = {}, {}
    for name, library in libraries.items():
      compiled[name], compile_seconds[name] = _compile(
          _make_search(library, batch_size, num_actions, num_simulations, with_tree=False))
      jax.block_until_ready(compiled[name](jax.random.PRNGKey(0)))  # warm-up call
    call_seconds = {name: [] for name in libraries}
    for repeat in range(num_repeats):
      for name in libraries:
        start = time.perf_counter()
        jax.block_until_ready(compiled[name](jax.random.PRNGKey(repeat + 1)))
        call_seconds[name].append(time.perf_counter() - start)
    row = {"bytes_per_tree": bytes_per_tree, "working_bytes_per_tree": working_bytes_per_tree}
    for name in libraries:
      row[name] = {"compile_s": compile_seconds[name],
                   "decisions_per_s": batch_size / float(np.median(call_seconds[name]))}
    row["ratio"] = row["purepi"]["decisions_per_s"] / row["mctx"]["decisions_per_s"]
    results[batch_size] = row
    print(f"batch {batch_size:5d}: outputs identical | "
          f"compile mctx {row['mctx']['compile_s']:.2f}s purepi {row['purepi']['compile_s']:.2f}s | "
          f"decisions/s mctx {row['mctx']['decisions_per_s']:.0f} purepi {row['purepi']['decisions_per_s']:.0f} | "
          f"ratio {row['ratio']:.2f}x | output Tree {bytes_per_tree / 1e6:.3f} MB per search "
          f"({bytes_per_tree * batch_size / 1e6:.0f} MB per batch), purepi working CompactTree "
          f"{working_bytes_per_tree / 1e6:.3f} MB ({working_bytes_per_tree * batch_size / 1e6:.0f} MB)")
  return results


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--batch_sizes", default="64,1024")
  parser.add_argument("--num_actions", type=int, default=800)
  parser.add_argument("--num_simulations", type=int, default=32)
  parser.add_argument("--num_repeats", type=int, default=5)
  args = parser.parse_args()
  run_search_benchmark(tuple(int(b) for b in args.batch_sizes.split(",")), args.num_actions,
                       args.num_simulations, args.num_repeats)


if __name__ == "__main__":
  main()
