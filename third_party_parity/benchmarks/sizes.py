"""Benchmark: how the cost of each part grows with the number of items, purepi beside Jumanji and mctx.

  python -m third_party_parity.benchmarks sizes [--sizes=20,50,100,200] [--repeats=3] [--out=DIR]
  python -m third_party_parity.benchmarks ems_slots [--sizes=20,50,100,200]   (the EMS counts alone)

Per size n: n items cut from a 20-foot container (BinPack-v2's generator), `purepi.env.make.ems_slots(n)`
EMS slots, the 2n largest observed (what `--mode=pack` gives a load of n items), and the main job's network
(`distill.flags`, random parameters: the cost does not depend on their values). It prints:
  EMS slots   tightest fit on 16 instances (cut, and `--generator=boxes`) with 10n slots: the most
              EMSs in use at once, per item (mean and max over instances), and the fraction of
              instances that ever use more slots than `ems_slots(n)` gives;
  env         steps/s of 256 episodes (fewer where their EMS tables would pass 1 GiB: 69 at 200
              items) replaying the same random valid actions, purepi and Jumanji (trajectories
              checked identical), and the ratio;
  network     forward passes (states) per second at batch 16;
  decision    seconds of one searched decision (the evaluation's search: 16 simulations over 4
              considered actions, the environment as model) at batch 1 and 16, and XLA's memory
              for the batch of 16 (arguments, outputs and temporaries; at 200 items the pairwise
              policy head's hidden layer alone is 0.65 GB a forward pass at batch 16, 2.6 GB at 64);
  search      the search alone on a trivial model with the same action count (2n * n),
              batch 8: mctx's and purepi's decisions/s and the ratio (outputs checked identical);
then the exponent k of time ~ n^k of each part (least squares over the sizes, log-log), and with
`--out` writes sizes.json and sizes.png (time per unit against items, log-log) there.
"""
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from purepi import env as env_lib
from purepi.cli.app import parse_config
from purepi.evaluation.evaluator import make_evaluation_search_policy
from purepi.networks import make_network
from purepi.planner import OBSERVED_EMS_PER_ITEM, ems_slots
from purepi.policies.heuristics import tightest_fit
from purepi.policies.rollout import rollout
from third_party_parity.benchmarks.env import compare_env_speeds
from third_party_parity.benchmarks.search import run_search_benchmark

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SIZES = "20,50,100,200"
SLOT_SURPLUS = 10  # EMS slots per item when measuring how many are used
DECISION_BATCH, SEARCH_BATCH = 16, 8
ENV_TABLE_BYTES = 2 ** 30
PARTS = {"env_s_per_step": "env step (purepi)", "jumanji_s_per_step": "env step (Jumanji)",
         "network_s_per_state": "network forward (batch 16)", "decision_s_b1": "searched decision, batch 1",
         "decision_s_b16": "searched decision, batch 16 (per decision)",
         "search_s_mctx": "search alone, mctx (per decision)", "search_s_purepi": "search alone, purepi (per decision)"}


def make_env(num_items, num_slots, generator="cut"):
  """`num_items` items in `num_slots` EMS slots, the largest `OBSERVED_EMS_PER_ITEM` per item observed."""
  make_generator = env_lib.RandomBoxGenerator if generator == "boxes" else env_lib.RandomGenerator
  return env_lib.BinPack(make_generator(max_num_items=num_items, max_num_ems=num_slots),
                         obs_num_ems=min(num_slots, OBSERVED_EMS_PER_ITEM * num_items))


def ems_slot_use(num_items, generator, num_instances=16, slots_per_item=SLOT_SURPLUS):
  """The most EMSs in use at once over each tightest-fit episode, per item, `[num_instances]` (at
  most `slots_per_item`: the slots kept)."""
  env = make_env(num_items, slots_per_item * num_items, generator)

  @jax.jit
  def peaks(keys):
    state, timestep = jax.vmap(env.reset)(keys)
    recording = lambda key, state, timestep: (tightest_fit(key, state, timestep)[0],
                                              {"active_ems": timestep.extras["active_ems"]})
    _, final_timestep, transitions = rollout(env, recording, jax.random.PRNGKey(0), state, timestep, num_items)
    return jnp.maximum(transitions.policy_extras["active_ems"].max(0), final_timestep.extras["active_ems"])

  return np.asarray(peaks(jax.random.split(jax.random.PRNGKey(7), num_instances))) / num_items


def seconds_per_call(function, args, repeats):
  """(compile seconds, median seconds of `repeats` calls after a warm-up)."""
  start = time.perf_counter()
  compiled = jax.jit(function).lower(*args).compile()
  compile_s = time.perf_counter() - start
  jax.block_until_ready(compiled(*args))
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    times.append(time.perf_counter() - start)
  return compile_s, float(np.median(times)), compiled


def measure_size(num_items, config, repeats, batch_size=256):
  import jumanji.environments.packing.bin_pack as jumanji_bin_pack

  num_slots = ems_slots(num_items)
  row = {"items": num_items, "ems_slots": num_slots}
  for generator in ("cut", "boxes"):
    peaks = ems_slot_use(num_items, generator)
    row[f"ems_peak_per_item_{generator}"] = {"mean": float(peaks.mean()), "max": float(peaks.max()),
                                             "over_slots": float(np.mean(peaks * num_items > num_slots))}
  ours = make_env(num_items, num_slots)
  theirs = jumanji_bin_pack.BinPack(
      generator=jumanji_bin_pack.generator.RandomGenerator(
          max_num_items=num_items, max_num_ems=num_slots,
          split_num_same_items=ours.generator._split_num_same_items),  # BinPack-v2's, not the class default
      obs_num_ems=ours.obs_num_ems)
  # The EMS update's [E, E] tables of a whole batch stay under ENV_TABLE_BYTES (at 200 items, 1600
  # slots: 69 episodes).
  env_batch = min(batch_size, max(8, ENV_TABLE_BYTES // (6 * num_slots ** 2)))
  row["env_batch"] = env_batch
  speeds = compare_env_speeds(theirs, ours, env_batch, repeats, quiet=True)
  row["env_s_per_step"], row["jumanji_s_per_step"] = 1 / speeds["purepi"], 1 / speeds["jumanji"]

  network = make_network(config)
  states, timesteps = jax.vmap(ours.reset)(jax.random.split(jax.random.PRNGKey(0), DECISION_BATCH))
  params = network.init(jax.random.PRNGKey(1), jax.tree.map(lambda leaf: leaf[:1], timesteps.observation))
  _, forward_s, _ = seconds_per_call(network.apply, (params, timesteps.observation), repeats)
  row["network_s_per_state"] = forward_s / DECISION_BATCH
  policy_fn = make_evaluation_search_policy(config, ours, network, params)
  for batch in (1, DECISION_BATCH):
    first = jax.tree.map(lambda leaf: leaf[:batch], (states, timesteps))
    compile_s, decision_s, compiled = seconds_per_call(policy_fn, (jax.random.PRNGKey(2), *first), repeats)
    row[f"decision_s_b{batch}"] = decision_s / batch
    row[f"decision_compile_s_b{batch}"] = compile_s
  memory = compiled.memory_analysis()
  row[f"decision_memory_bytes_b{DECISION_BATCH}"] = int(
      memory.temp_size_in_bytes + memory.argument_size_in_bytes + memory.output_size_in_bytes)
  search = run_search_benchmark(batch_sizes=(SEARCH_BATCH,), num_actions=ours.obs_num_ems * num_items,
                                num_simulations=config.eval_num_simulations, num_repeats=repeats)[SEARCH_BATCH]
  row["search_s_mctx"] = 1 / search["mctx"]["decisions_per_s"]
  row["search_s_purepi"] = 1 / search["purepi"]["decisions_per_s"]
  return row


def slot_use_line(num_items, generator, peaks):
  return (f"{num_items:4d} items, {generator:5s}: most EMSs in use at once per item, mean {peaks.mean():.2f}, "
          f"max {peaks.max():.2f} over {len(peaks)} instances; more than ems_slots({num_items}) = "
          f"{ems_slots(num_items)} in {np.mean(peaks * num_items > ems_slots(num_items)):.0%}")


def bench_ems_slots(args):
  """Only the EMS counts of `bench_sizes` (no timing, so any machine load will do)."""
  print(f"EMS slot use: tightest fit, {SLOT_SURPLUS} slots per item kept, 2 per item observed", flush=True)
  for num_items in (int(size) for size in (args.sizes or DEFAULT_SIZES).split(",")):
    for generator in ("cut", "boxes"):
      print(slot_use_line(num_items, generator, ems_slot_use(num_items, generator)), flush=True)


def exponents(rows):
  """`{part: k}` of time ~ items^k, least squares on log-log over the sizes."""
  items = np.log([row["items"] for row in rows])
  return {part: float(np.polyfit(items, np.log([row[part] for row in rows]), 1)[0]) for part in PARTS}


def print_row(row):
  slots = " ".join(
      f"{generator} {row[f'ems_peak_per_item_{generator}']['mean']:.2f}/"
      f"{row[f'ems_peak_per_item_{generator}']['max']:.2f} per item, more than the slots in "
      f"{row[f'ems_peak_per_item_{generator}']['over_slots']:.0%};" for generator in ("cut", "boxes"))
  print(f"{row['items']:4d} items, {row['ems_slots']} EMS slots | most EMSs in use (tightest fit, mean/max): "
        f"{slots}\n"
        f"     env steps/s (batch {row['env_batch']}) purepi {1 / row['env_s_per_step']:,.0f} "
        f"jumanji {1 / row['jumanji_s_per_step']:,.0f} "
        f"(ratio {row['jumanji_s_per_step'] / row['env_s_per_step']:.1f}x) | network states/s "
        f"{1 / row['network_s_per_state']:,.0f} | searched decision {row['decision_s_b1'] * 1e3:.1f} ms at "
        f"batch 1, {row['decision_s_b16'] * 1e3:.2f} ms each at batch 16 (compile "
        f"{row['decision_compile_s_b16']:.1f} s, {row['decision_memory_bytes_b16'] / 2 ** 20:.0f} MiB) | "
        f"search alone decisions/s mctx {1 / row['search_s_mctx']:,.0f} purepi {1 / row['search_s_purepi']:,.0f} "
        f"(ratio {row['search_s_mctx'] / row['search_s_purepi']:.1f}x)", flush=True)


def plot(rows, fitted, path):
  import matplotlib
  import matplotlib.ticker
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  figure, axes = plt.subplots(figsize=(7, 4.5))
  items = [row["items"] for row in rows]
  for part, label in PARTS.items():
    axes.plot(items, [row[part] for row in rows], marker="o", label=f"{label}: n^{fitted[part]:.2f}")
  axes.set(xscale="log", yscale="log", xlabel="items n (ems_slots(n) EMS slots)", ylabel="seconds per unit",
           title="Cost against the number of items")
  axes.set_xticks(items, [str(n) for n in items])
  axes.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
  axes.legend(fontsize=7)
  figure.tight_layout()
  figure.savefig(path, dpi=120)
  plt.close(figure)


def bench_sizes(args):
  config = parse_config([f"--flagfile={ROOT / 'distill.flags'}", "--progress=false"])
  sizes = [int(size) for size in (args.sizes or DEFAULT_SIZES).split(",")]
  print(f"sizes benchmark: {jax.__version__}, {jax.devices()[0].platform}, median of {args.repeats or 3} calls",
        flush=True)
  rows = []
  for num_items in sizes:
    rows.append(measure_size(num_items, config, args.repeats or 3, args.batch_size or 256))
    print_row(rows[-1])
  fitted = exponents(rows) if len(rows) > 1 else {}
  if fitted:
    print("exponent k of time ~ n^k: " + ", ".join(f"{PARTS[part]} {k:.2f}" for part, k in fitted.items()))
  if args.out:
    rows, fitted = write_results(rows, Path(args.out))
  return rows, fitted


def write_results(rows, out: Path):
  """sizes.json and sizes.png in `out`, over `rows` and the rows of other sizes a run before left
  there (so the sizes may be measured one command at a time); returns all rows and their exponents."""
  out.mkdir(parents=True, exist_ok=True)
  measured = {row["items"] for row in rows}
  if (out / "sizes.json").is_file():
    earlier = json.loads((out / "sizes.json").read_text())["rows"]
    rows = sorted(rows + [row for row in earlier if row["items"] not in measured], key=lambda row: row["items"])
  fitted = exponents(rows) if len(rows) > 1 else {}
  (out / "sizes.json").write_text(json.dumps({"rows": rows, "exponents": fitted}, indent=1) + "\n")
  if fitted:
    print("over every size in " + str(out) + ": exponent k of time ~ n^k: "
          + ", ".join(f"{PARTS[part]} {k:.2f}" for part, k in fitted.items()))
    plot(rows, fitted, out / "sizes.png")
  return rows, fitted
