"""Benchmarks: purepi next to its reference library, in one process, on the same inputs.

  python -m third_party_parity.benchmarks env [--batch_size=1024] [--repeats=5]
  python -m third_party_parity.benchmarks search [--repeats=5]

Each benchmark prints compile time apart from run time, the speed of each side
and their ratio, after checking that both computed the same thing. Add one by
writing a module with `bench_<name>(args)` and an entry in `BENCHMARKS` (and
its flags in `add_arguments`).
"""
import argparse

from third_party_parity.benchmarks.env import bench_env
from third_party_parity.benchmarks.search import bench_search


BENCHMARKS = {"env": bench_env, "search": bench_search}


def add_arguments(parser):
  parser.add_argument("--batch_size", type=int, default=1024)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--seed", type=int, default=0)


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("benchmark", choices=sorted(BENCHMARKS))
  add_arguments(parser)
  args = parser.parse_args()
  BENCHMARKS[args.benchmark](args)


if __name__ == "__main__":
  main()
