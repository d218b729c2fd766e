"""How heavy and how quick the plan page is: a plan of over 150 boxes opened in headless Chromium.

  python -m third_party_parity.benchmarks plan_page [--repeats=5]

Packs Bischoff-Ratcliff problem BR3 #39 (232 boxes of 8 kinds, a validation problem) with the
real-load network, greedy and with no support rule (161 boxes placed), writes the plan's page, and opens
it `--repeats` times, each in a newly started Chromium (docs/screenshot.py's browser). An open is
timed from asking for the page to the scene drawn (the page's `data-ready`), the browser's own
start left out. Prints the page's size and the open times (min, median, max).
"""
import statistics
import tempfile
from pathlib import Path

BR_FOLDER = Path(__file__).parent / "br"
PROBLEM = (3, 39)  # class, problem number


def bench_plan_page(args):
  import purepi
  from docs.screenshot import opened_page
  from purepi.env.orlib import read_problems

  class_number, number = PROBLEM
  problem = next(p for p in read_problems(BR_FOLDER / f"br{class_number}.txt") if p.number == number)
  plan = purepi.pack(problem.rows, container_dims=problem.container, policy="greedy", min_support=0.0,
                     rotation_rule="")
  with tempfile.TemporaryDirectory() as directory:
    path = plan.to_html(Path(directory) / "plan.html")
    seconds = []
    for _ in range(args.repeats or 5):
      with opened_page(path) as (_, opened_in):
        seconds.append(opened_in)
    size = path.stat().st_size
  print(f"BR{class_number} #{number}: {len(plan.placements)} of {problem.num_boxes} boxes placed "
        f"({plan.utilization:.1%}, greedy network, no support rule)")
  print(f"plan.html: {size / 2 ** 20:.2f} MiB")
  print(f"opened in Chromium, {len(seconds)} times, a new browser each: min {min(seconds):.2f} s, "
        f"median {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s")
