"""`--mode=pack`: a real container's load plan from a trained policy.

  python run.py --mode=pack --csv_path=my_container.csv [--checkpoint=workdirs/distill] \
      [--workdir=workdirs/plan] [--pack_policy=greedy] [--container_dims=12030,2350,2390]

The CSV lists the items (`Item_Name,Length,Width,Height,Quantity`, mm). The
network comes from the trained run (`--checkpoint`: a workdir, one of its
checkpoints or an exported network; without it, the network shipped with
purepi), and so does every setting the command line does not give
(`purepi.cli.settings`) but the load's sizes (`purepi.planner`: as many items
as the load holds, two EMS slots per item). The policy is search by default
(`--eval_num_simulations` of Gumbel MuZero over
`--eval_max_num_considered_actions`, no root noise) or the greedy
network; the same `--seed` gives the same plan. Writes into `--workdir`:
  plan.csv     one row per placed item, in placement order: order, item, copy,
               x, y, z (the corner nearest the container's origin), x_len,
               y_len, z_len (as placed), orientation (how the item was turned:
               "LWH" as listed, "WLH" a quarter turn about the vertical, ...;
               only "LWH" unless the run was trained with --rotations),
               volume, all lengths in mm;
  plan.json    the same rows (with each box's supported fraction), the items that did not fit,
               utilization, the policy that made the plan, the support and rotation rules, the
               EMSs lost to full slots (`lost_ems`, 0 unless a warning said so), and with the
               anytime packer the seconds spent and every plan tried;
  plan.png     the packed container; plan_steps.gif one frame per placement;
  plan.html    the plan as an interactive 3D page (`purepi.policies.plan_page`): turn the load,
               click a box, step through the loading order; it opens from disk in a browser;
and prints a one-screen summary.

A CSV with more items than a given `--max_num_items`, or a load too large for
memory, is refused in one line. A progress bar counts the items placed.
Observations are fractions of the container, so a container other than the one
trained on (`--container_dims`) is packed as is, but the network has only seen
its training container.

`--mode=export --checkpoint=WORKDIR --workdir=DIR` writes a trained network on its
own (parameters and config.json, no optimiser state) for `--checkpoint` and `purepi.pack`.
"""
import csv
from pathlib import Path

from purepi.env import viewer
from purepi.errors import naming
from purepi.planner import plan_load, trained_network
from purepi.policies.load_plan import LoadPlan, Placement
from purepi.training.trained_networks import export_network, load_params
from purepi.training.workdir import prepare_workdir, write_json


def write_plan(plan: LoadPlan, config, directory: Path):
  """plan.csv and plan.json; returns their paths."""
  fields = list(Placement._fields)
  csv_path = directory / "plan.csv"
  temporary = directory / "plan.csv.tmp"
  with naming(csv_path), temporary.open("w", newline="") as file:
    writer = csv.writer(file)
    writer.writerow(fields)
    writer.writerows(plan.placements)
  temporary.replace(csv_path)
  json_path = directory / "plan.json"
  write_json(json_path, {
      "csv": config.csv_path, "container_mm": plan.container, "policy": plan.policy,
      "seed": config.seed, "utilization": plan.utilization, "min_support": config.min_support,
      "rotation_rule": config.rotation_rule or "any", "seconds": plan.seconds, "time_limit": config.time_limit,
      "tried": list(plan.tried), "lost_ems": int(plan.final_state.lost_ems),
      "placed": [placement._asdict() for placement in plan.placements],
      "did_not_fit": [{name: value for name, value in placement._asdict().items()
                       if name in ("item", "name", "copy", "x_len", "y_len", "z_len", "volume")}
                      for placement in plan.unplaced]})
  return csv_path, json_path


def summary(plan: LoadPlan, config, paths) -> str:
  total = len(plan.placements) + len(plan.unplaced)
  lines = [f"Load plan for {config.csv_path} in a {' x '.join(map(str, plan.container))} mm container "
           f"({plan.policy}, seed {config.seed})",
           f"placed {len(plan.placements)} of {total} items, volume utilization {plan.utilization:.1%}, "
           f"every box on at least {config.min_support:.0%} of its base"]
  if plan.tried:
    lines.append(f"best of {len(plan.tried)} plans in {plan.seconds:.0f} s: " + ", ".join(
        f"{attempt['policy']} {attempt['utilization']:.1%}" for attempt in plan.tried))
  shown = plan.placements[:12]
  lines.append(f"{'order':>5}  {'item':<20} {'x':>6} {'y':>6} {'z':>6}   {'size as placed (mm)':<20} turned")
  lines += [f"{p.order:>5}  {f'{p.name} #{p.copy}':<20} {p.x:>6} {p.y:>6} {p.z:>6}   "
            f"{f'{p.x_len}x{p.y_len}x{p.z_len}':<20} {p.orientation}" for p in shown]
  if len(plan.placements) > len(shown):
    lines.append(f"  ... {len(plan.placements) - len(shown)} more in plan.csv")
  if plan.unplaced:
    lines.append("did not fit: " + ", ".join(f"{p.name} #{p.copy}" for p in plan.unplaced))
  else:
    lines.append("every item fits")
  lines.append("wrote " + ", ".join(str(path) for path in paths))
  return "\n".join(lines)


def main(config):
  """`--mode=pack`: see the module docstring."""
  params, _ = load_params(trained_network(config))
  plan = plan_load(config, params, progress=config.progress)
  directory = prepare_workdir(config.workdir)
  paths = list(write_plan(plan, config, directory))
  viewer.render(plan.final_state, path=str(directory / "plan.png"))
  viewer.animate(plan.steps, str(directory / "plan_steps.gif"))
  paths += [directory / "plan.png", directory / "plan_steps.gif", plan.to_html(directory / "plan.html")]
  print(summary(plan, config, paths))
  return plan


def export_main(config):
  """`--mode=export`: the trained network of `--checkpoint` on its own, into `--workdir`
  (`purepi.training.trained_networks.export_network`); `--checkpoint` and `purepi.pack` read it."""
  path = export_network(config.checkpoint, config.workdir)
  print(f"wrote {path} ({path.stat().st_size / 2 ** 20:.2f} MiB) and {Path(config.workdir) / 'config.json'}")
