"""Benchmark: purepi.search vs mctx 0.0.71, Gumbel MuZero decisions per second in one process.

A trivial model (zero rewards, values and logits, discount 1) isolates the
search itself. Both libraries get the same roots and keys; the outputs are
checked identical (whole tree, action, action_weights) before timing.

  python -m third_party_parity.bench_search [--batch_sizes 64,1024] [--num_actions 800]
"""
import argparse
import time

import jax
import jax.numpy as jnp
import mctx
import numpy as np

import purepi.search


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
  """Bytes of every array of a (batched) search tree."""
  return sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree_util.tree_leaves(tree))


def _assert_identical(reference, candidate):
  for (path, expected), actual in zip(jax.tree_util.tree_leaves_with_path(reference),
                                      jax.tree_util.tree_leaves(candidate), strict=True):
    expected, actual = np.asarray(expected), np.asarray(actual)
    if np.issubdtype(expected.dtype, np.floating):
      np.testing.assert_allclose(actual, expected, atol=1e-5, rtol=1e-5, err_msg=jax.tree_util.keystr(path))
    else:
      np.testing.assert_array_equal(actual, expected, err_msg=jax.tree_util.keystr(path))


def _time(decide, num_repeats):
  """(compile + first call seconds, mean seconds per later call)."""
  start = time.perf_counter()
  jax.block_until_ready(decide(jax.random.PRNGKey(0)))
  first_call = time.perf_counter() - start
  start = time.perf_counter()
  for repeat in range(num_repeats):
    jax.block_until_ready(decide(jax.random.PRNGKey(repeat + 1)))
  return first_call, (time.perf_counter() - start) / num_repeats


def bench_search(batch_sizes=(64, 1024), num_actions=800, num_simulations=32, num_repeats=3):
  """Prints and returns, per batch size, decisions/s of both libraries and their ratio."""
  results = {}
  print(f"Gumbel MuZero, trivial model, {num_actions} actions, {num_simulations} simulations, "
        f"{jax.devices()[0].platform}, {num_repeats} timed calls each")
  for batch_size in batch_sizes:
    searches = {name: _make_search(library, batch_size, num_actions, num_simulations, with_tree=True)
                for name, library in (("mctx", mctx), ("purepi", purepi.search))}
    reference, candidate = (searches[name](jax.random.PRNGKey(123)) for name in ("mctx", "purepi"))
    _assert_identical(reference, candidate)
    bytes_per_tree = tree_bytes(candidate.search_tree) // batch_size
    del reference, candidate, searches
    row = {"bytes_per_tree": bytes_per_tree}
    for name, library in (("mctx", mctx), ("purepi", purepi.search)):
      decide = _make_search(library, batch_size, num_actions, num_simulations, with_tree=False)
      first_call, seconds = _time(decide, num_repeats)
      row[name] = {"first_call_s": first_call, "decisions_per_s": batch_size / seconds}
    row["ratio"] = row["purepi"]["decisions_per_s"] / row["mctx"]["decisions_per_s"]
    results[batch_size] = row
    print(f"batch {batch_size:5d}: outputs identical | "
          f"compile+first call mctx {row['mctx']['first_call_s']:.2f}s purepi {row['purepi']['first_call_s']:.2f}s | "
          f"decisions/s mctx {row['mctx']['decisions_per_s']:.0f} purepi {row['purepi']['decisions_per_s']:.0f} | "
          f"ratio {row['ratio']:.2f}x | tree {bytes_per_tree / 1e6:.3f} MB per search "
          f"({bytes_per_tree * batch_size / 1e6:.0f} MB per batch)")
  return results


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--batch_sizes", default="64,1024")
  parser.add_argument("--num_actions", type=int, default=800)
  parser.add_argument("--num_simulations", type=int, default=32)
  parser.add_argument("--num_repeats", type=int, default=3)
  args = parser.parse_args()
  bench_search(tuple(int(b) for b in args.batch_sizes.split(",")), args.num_actions,
               args.num_simulations, args.num_repeats)


if __name__ == "__main__":
  main()
