"""The container-loading benchmark: purepi's packer on the Bischoff-Ratcliff classes, beside the
heuristics and py3dbp, under full support and without a support rule.

  python -m third_party_parity.benchmarks container_loading [--classes=1,4,7,10,15] \
      [--problems=51-60] [--time_limit=60] [--supports=1,0] [--checkpoint=DIR] [--out=DIR]

Each problem of each class (`third_party_parity/benchmarks/br/brK.txt`, OR-Library's format) is
packed once per support rule by `purepi.pack` with the anytime packer (`--time_limit` seconds,
compilation included), each box turned only as its type's flags allow. Its record gives the
anytime plan and, from the plans it tried, the greedy network's and each heuristic's, with their
seconds. py3dbp (the `benchmarks` extra), in the same process on the same boxes, places each box as
listed (the listed height is vertical, which every type's flags allow; its own turning ignores the
flags and, in version 1.1.2, keeps only the first turn that fits the container); it knows no
support, so under a support rule its plan keeps the boxes that rest on enough of the boxes it keeps.

Writes into `--out`: results.jsonl (a line per problem and support rule, appended as each is
done, so a stopped run continues where it stopped), tables.md (a table per support rule: mean
utilization per class and method, mean seconds per problem), summary.md (README's short table) and
container_loading.png.
Settings are chosen on problems 1-50 of each class; report on 51 on.
"""
import json
import time
from pathlib import Path

import numpy as np

BR_DIRECTORY = Path(__file__).parent / "br"
PUBLISHED = ("Published (Fanslau and Bortfeldt 2010, CLTRS; class means of all 100 problems, rotations within "
             "the flags): BR1-BR7 95.0% without a support rule, 94.2% with full support; BR1-BR15 93.9% / 91.9%.")
HEURISTIC_NAMES = ("largest_item_deepest_bottom_left", "tightest_fit")
METHODS = ("anytime", "greedy network", "best heuristic", "py3dbp")


def parse_problems(text: str):
  """`"51-60"` or `"51,53"` -> the problem numbers."""
  numbers = []
  for part in text.split(","):
    first, _, last = part.partition("-")
    numbers += list(range(int(first), int(last or first) + 1))
  return numbers


def py3dbp_plan(problem, min_support: float):
  """`(utilization, seconds)` of py3dbp's plan, boxes as listed, keeping under `min_support` only the
  boxes that rest on at least that fraction of their base (on the floor or on kept boxes)."""
  from py3dbp import main as py3dbp_main
  from py3dbp.constants import RotationType

  from purepi.policies.load_plan import supported_fractions
  began = time.monotonic()
  length, width, height = problem.container
  packer = py3dbp_main.Packer()
  # py3dbp's axes are width, height, depth: its height is ours.
  packer.add_bin(py3dbp_main.Bin("container", length, height, width, 10 ** 9))
  for index, (name, box_length, box_width, box_height, quantity, _) in enumerate(problem.rows):
    for copy in range(quantity):
      packer.add_item(py3dbp_main.Item(f"{name}/{copy}", box_length, box_height, box_width, 0))
  listed_only = RotationType.ALL
  RotationType.ALL = [RotationType.RT_WHD]
  try:
    packer.pack(bigger_first=True, distribute_items=False, number_of_decimals=0)
  finally:
    RotationType.ALL = listed_only
  placed = packer.bins[0].items
  corners = np.array([[float(item.position[0]), float(item.position[2]), float(item.position[1])]
                      for item in placed]).reshape(-1, 3)
  lengths = np.array([[float(d) for d in item.get_dimension()] for item in placed]).reshape(-1, 3)[:, [0, 2, 1]]
  kept = np.ones(len(placed), bool)
  while min_support > 0 and kept.any():
    fractions = supported_fractions(corners[kept], lengths[kept])
    if (fractions >= min_support - 1e-9).all():
      break
    kept[np.flatnonzero(kept)[fractions < min_support - 1e-9]] = False
  volume = float(np.sum(np.prod(lengths[kept], axis=-1)))
  return volume / float(length * width * height), time.monotonic() - began


def run_problem(problem, class_number, min_support, time_limit, checkpoint):
  """One record: the anytime plan, what it tried, and py3dbp's plan."""
  import purepi
  began = time.monotonic()
  plan = purepi.pack(problem.rows, container_dims=problem.container, checkpoint=checkpoint,
                     time_limit=time_limit, min_support=min_support, rotation_rule="")
  seconds = time.monotonic() - began
  tried = {attempt["policy"]: attempt for attempt in plan.tried}
  heuristics = {name: tried[f"heuristic {name}"] for name in HEURISTIC_NAMES}
  best_name = max(HEURISTIC_NAMES, key=lambda name: heuristics[name]["utilization"])
  record = {"class": class_number, "problem": problem.number, "min_support": min_support,
            "boxes": problem.num_boxes, "types": len(problem.box_types),
            "anytime": {"utilization": plan.utilization, "seconds": seconds, "policy": plan.policy},
            "greedy network": tried["greedy network"],
            "best heuristic": dict(heuristics[best_name], policy=best_name),
            "tried": plan.tried}
  try:
    utilization, py3dbp_seconds = py3dbp_plan(problem, min_support)
    record["py3dbp"] = {"utilization": utilization, "seconds": py3dbp_seconds}
  except ImportError:
    pass
  return record


def tables(records) -> str:
  """A markdown table per support rule: mean utilization (and mean seconds) per class and method."""
  lines = []
  for min_support in sorted({record["min_support"] for record in records}, reverse=True):
    chosen = [record for record in records if record["min_support"] == min_support]
    methods = [method for method in METHODS if all(method in record for record in chosen)]
    rule = "full support" if min_support == 1 else (f"support {min_support:g}" if min_support else "no support rule")
    lines += [f"**{rule}**: mean volume utilization (mean seconds per problem)", "",
              "| class | problems | boxes | " + " | ".join(methods) + " |",
              "|---|---:|---:|" + "---:|" * len(methods)]
    classes = sorted({record["class"] for record in chosen})
    for class_number in classes + ["all"]:
      rows = [record for record in chosen if class_number == "all" or record["class"] == class_number]
      cells = [f"{np.mean([row[m]['utilization'] for row in rows]):.3f} "
               f"({np.mean([row[m]['seconds'] for row in rows]):.1f} s)" for m in methods]
      numbers = sorted({row["problem"] for row in rows})
      lines.append(f"| {'BR' + str(class_number) if class_number != 'all' else 'mean'} | "
                   f"{numbers[0]}-{numbers[-1]} ({len(rows)}) | {np.mean([row['boxes'] for row in rows]):.0f} | "
                   + " | ".join(cells) + " |")
    lines.append("")
  lines.append(PUBLISHED)
  return "\n".join(lines) + "\n"


def summary(records) -> str:
  """README's table: per class, anytime, the best heuristic and py3dbp, under each support rule."""
  supports = sorted({record["min_support"] for record in records}, reverse=True)
  rule_name = lambda value: "full support" if value == 1 else (f"support {value:g}" if value else "no support rule")
  methods = [method for method in ("anytime", "best heuristic", "py3dbp") if all(method in r for r in records)]
  header = " | ".join(f"{method}, {rule_name(value)}" for value in supports for method in methods)
  lines = [f"| class | {header} |", "|---|" + "---:|" * (len(supports) * len(methods))]
  for class_number in sorted({record["class"] for record in records}) + ["all"]:
    cells = []
    for value in supports:
      rows = [r for r in records if r["min_support"] == value and class_number in (r["class"], "all")]
      cells += [f"{np.mean([row[method]['utilization'] for row in rows]):.3f}" for method in methods]
    lines.append(f"| {'BR' + str(class_number) if class_number != 'all' else 'mean'} | " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def plot(records, path):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  supports = sorted({record["min_support"] for record in records}, reverse=True)
  figure, axes = plt.subplots(1, len(supports), figsize=(5.5 * len(supports), 4.0), squeeze=False, sharey=True)
  for axis, min_support in zip(axes[0], supports):
    chosen = [record for record in records if record["min_support"] == min_support]
    classes = sorted({record["class"] for record in chosen})
    methods = [method for method in METHODS if all(method in record for record in chosen)]
    width = 0.8 / len(methods)
    for offset, method in enumerate(methods):
      means = [np.mean([r[method]["utilization"] for r in chosen if r["class"] == c]) for c in classes]
      axis.bar(np.arange(len(classes)) + offset * width, means, width, label=method)
    axis.set_xticks(np.arange(len(classes)) + 0.4 - width / 2, [f"BR{c}" for c in classes])
    axis.set_ylim(0.0, 1.0)
    axis.set_title("full support" if min_support == 1 else ("no support rule" if not min_support
                                                             else f"support {min_support:g}"))
    axis.grid(axis="y", alpha=0.3)
  axes[0][0].set_ylabel("volume utilization")
  handles, labels = axes[0][0].get_legend_handles_labels()
  figure.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
  figure.tight_layout(rect=(0, 0.06, 1, 1))
  figure.savefig(path, dpi=110)
  plt.close(figure)


def bench_container_loading(args):
  from purepi.env.orlib import read_problems
  out = Path(args.out or "workdirs/container_loading")
  out.mkdir(parents=True, exist_ok=True)
  results = out / "results.jsonl"
  records = [json.loads(line) for line in results.read_text().splitlines() if line.strip()] if results.exists() else []
  done = {(record["class"], record["problem"], record["min_support"]) for record in records}
  classes = [int(c) for c in (args.classes or "1,4,7,10,15").split(",")]
  supports = [float(s) for s in (args.supports or "1,0").split(",")]
  numbers = parse_problems(args.problems or "51-60")
  for class_number in classes:
    problems = read_problems(BR_DIRECTORY / f"br{class_number}.txt")
    for number in numbers:
      for min_support in supports:
        if (class_number, number, min_support) in done:
          continue
        record = run_problem(problems[number - 1], class_number, min_support, args.time_limit, args.checkpoint)
        records.append(record)
        with results.open("a") as file:
          file.write(json.dumps(record) + "\n")
        print(f"BR{class_number} #{number} support {min_support:g}: anytime {record['anytime']['utilization']:.3f} "
              f"({record['anytime']['seconds']:.0f} s, {record['anytime']['policy']}), greedy "
              f"{record['greedy network']['utilization']:.3f}, best heuristic "
              f"{record['best heuristic']['utilization']:.3f}"
              + (f", py3dbp {record['py3dbp']['utilization']:.3f}" if "py3dbp" in record else ""), flush=True)
  (out / "tables.md").write_text(tables(records))
  (out / "summary.md").write_text(summary(records))
  plot(records, out / "container_loading.png")
  print(tables(records))
