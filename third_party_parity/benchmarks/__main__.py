"""Benchmarks: purepi next to its reference library, in one process, on the same inputs.

  python -m third_party_parity.benchmarks env [--batch_size=1024] [--repeats=5]
  python -m third_party_parity.benchmarks search [--repeats=5]
  python -m third_party_parity.benchmarks paper_scale [--rollout_batch_size=N] [--repeats=2]
  python -m third_party_parity.benchmarks sizes [--sizes=20,50,100,200] [--repeats=3] [--out=DIR]
  python -m third_party_parity.benchmarks ems_slots [--sizes=20,50,100,200]
  python -m third_party_parity.benchmarks throughput [--repeats=3]
  python -m third_party_parity.benchmarks train_sizes [--sizes=20,50,100] [--rollout_batch_size=16] [--repeats=1]
  python -m third_party_parity.benchmarks container_loading [--classes=1,4,7,10,15] [--problems=51-60]
      [--time_limit=60] [--supports=1,0] [--checkpoint=DIR] [--out=DIR]
  python -m third_party_parity.benchmarks plan_page [--repeats=5]

Each benchmark prints compile time apart from run time, the speed of each side
and their ratio, after checking that both computed the same thing; `paper_scale`
times purepi's training iteration alone, beside the blog's figure, `throughput`
the main job's iteration and its parts, `sizes` each part from 20 to 200 items, `train_sizes` an
iteration at larger and mixed training sizes, `container_loading` the packer on the Bischoff-Ratcliff
classes beside the heuristics and py3dbp, `plan_page` the size and opening time of a 150-box plan's
page in Chromium. Add one by
writing a module with `bench_<name>(args)` and an entry in `BENCHMARKS` (and
its flags in `add_arguments`).
"""
import argparse
import importlib

# name -> "module:function", imported only when that benchmark runs.
BENCHMARKS = {"env": "third_party_parity.benchmarks.env:bench_env",
              "search": "third_party_parity.benchmarks.search:bench_search",
              "paper_scale": "third_party_parity.benchmarks.paper_scale:bench_paper_scale",
              "sizes": "third_party_parity.benchmarks.sizes:bench_sizes",
              "ems_slots": "third_party_parity.benchmarks.sizes:bench_ems_slots",
              "throughput": "third_party_parity.benchmarks.throughput:bench_throughput",
              "train_sizes": "third_party_parity.benchmarks.throughput:bench_train_sizes",
              "container_loading": "third_party_parity.benchmarks.container_loading:bench_container_loading",
              "plan_page": "third_party_parity.benchmarks.plan_page:bench_plan_page"}


# CPU devices a benchmark runs on unless --num_cpu_devices says otherwise: throughput times the
# main job, which runs on distill.flags's two.
CPU_DEVICES = {"throughput": 2, "train_sizes": 2}


def add_arguments(parser):
  parser.add_argument("--batch_size", type=int, default=None, help="env: episodes (default 1024); sizes: 256")
  parser.add_argument("--repeats", type=int, default=None, help="timed calls (default: 5; paper_scale: 2)")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--rollout_batch_size", type=int, default=None,
                      help="paper_scale: episodes per iteration (default: 1024, or 32 on a CPU); train_sizes: 16")
  parser.add_argument("--num_cpu_devices", type=int, default=None,
                      help="CPU devices JAX makes (default: one, throughput: two)")
  parser.add_argument("--sizes", default=None,
                      help="sizes, ems_slots (default 20,50,100,200), train_sizes (20,50,100): item counts, comma-separated")
  parser.add_argument("--out", default="", help="sizes: a directory for sizes.json and sizes.png; "
                      "container_loading: for results.jsonl, tables.md and the picture")
  parser.add_argument("--classes", default=None, help="container_loading: BR classes (default 1,4,7,10,15)")
  parser.add_argument("--problems", default=None, help="container_loading: problem numbers (default 51-60)")
  parser.add_argument("--supports", default=None, help="container_loading: support fractions (default 1,0)")
  parser.add_argument("--time_limit", type=float, default=60.0, help="container_loading: seconds per problem")
  parser.add_argument("--checkpoint", default=None, help="container_loading: a trained network (default: pack's)")


def make_parser():
  parser = argparse.ArgumentParser(prog="python -m third_party_parity.benchmarks", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("benchmark", choices=sorted(BENCHMARKS))
  add_arguments(parser)
  return parser


def main():
  args = make_parser().parse_args()
  num_cpu_devices = args.num_cpu_devices or CPU_DEVICES.get(args.benchmark)
  if num_cpu_devices:
    import jax
    jax.config.update("jax_num_cpu_devices", num_cpu_devices)  # before the benchmark's modules load
  module_name, function_name = BENCHMARKS[args.benchmark].split(":")
  getattr(importlib.import_module(module_name), function_name)(args)


if __name__ == "__main__":
  main()
