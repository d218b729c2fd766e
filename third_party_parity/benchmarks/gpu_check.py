"""The check for one lent GPU, about 8 minutes in all (docs/results.md, "On a GPU").

  python -m third_party_parity.benchmarks.gpu_check                    # on the GPU: the blog's scale
  python -m third_party_parity.benchmarks.gpu_check --tiny --minutes=0.2  # the CPU path, tiny sizes

1. The paper scale's collection decisions/s: one iteration of `distill.flags` + `paper.flags`
   (1024 episodes, 32 simulations, 4 layers of model size 128) timed apart from its compilation
   (`third_party_parity.benchmarks.paper_scale`), against the blog's 20,000 on 4 GPUs.
2. `paper.flags` trained for `--minutes` of iterations (as many as step 1's time per iteration
   fits), in `--workdir`, then evaluated once on the held-out instances: greedy and with search,
   printed last.
"""
import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

from third_party_parity.benchmarks.paper_scale import ROOT, run_paper_scale_benchmark

# Sizes for the CPU path: the same steps in seconds.
TINY_FLAGS = ("--max_num_items=5", "--obs_num_ems=6", "--max_num_ems=6", "--num_layers=1", "--num_heads=2",
              "--key_size=4", "--mlp_units=8", "--num_simulations=2", "--max_num_considered_actions=2",
              "--eval_num_episodes=8", "--eval_num_simulations=2", "--eval_max_num_considered_actions=2",
              "--rollout_batch_size=8", "--training_batch_size=32")


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--minutes", type=float, default=3.0, help="training time of step 2 (default 3)")
  parser.add_argument("--workdir", default="workdirs/gpu_check", help="where step 2 trains")
  parser.add_argument("--tiny", action="store_true", help="tiny sizes: the CPU path, for the test")
  args = parser.parse_args(argv)
  if not args.minutes > 0:
    parser.error(f"--minutes must be positive, got {args.minutes}")
  extra_flags = TINY_FLAGS if args.tiny else ()
  start = time.perf_counter()
  benchmark = run_paper_scale_benchmark(rollout_batch_size=8 if args.tiny else 1024, num_repeats=2,
                                        extra_flags=extra_flags)
  num_iterations = max(1, math.floor(args.minutes * 60 / benchmark["iteration_s"]))
  print(f"training {num_iterations} iterations (about {args.minutes:g} min) in {args.workdir}", flush=True)
  subprocess.run([sys.executable, str(ROOT / "run.py"), f"--flagfile={ROOT / 'distill.flags'}",
                  f"--flagfile={ROOT / 'paper.flags'}", *extra_flags, f"--workdir={args.workdir}",
                  f"--num_iterations={num_iterations}", f"--eval_interval={num_iterations}",
                  f"--save_interval={num_iterations}", "--num_renders=0", "--progress=false"], check=True)
  last = json.loads((Path(args.workdir) / "metrics.jsonl").read_text().splitlines()[-1])
  print(f"gpu check: collection {benchmark['collection_decisions_per_s']:,.0f} decisions/s at paper scale; "
        f"after {last['iteration']} iterations ({last['wall_clock_s'] / 60:.1f} min of training): held-out "
        f"greedy {last['eval_greedy_utilization']:.4f}, search {last['eval_search_utilization']:.4f}; "
        f"{(time.perf_counter() - start) / 60:.1f} min in all")


if __name__ == "__main__":
  main()
