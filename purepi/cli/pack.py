"""`--mode=pack`: a real container's load plan from a trained policy.

  python run.py --mode=pack --checkpoint=workdirs/distill --csv_path=my_container.csv \
      --workdir=workdirs/my_plan [--pack_policy=greedy] [--container_dims=12030,2350,2390]

The CSV lists the items (`Item_Name,Length,Width,Height,Quantity`, mm). The
network comes from the trained run (`--checkpoint`: a workdir or one of its
checkpoints), and so does every setting the command line does not give
(`purepi.cli.settings`). The policy is search by default
(`--eval_num_simulations` of Gumbel MuZero over
`--eval_max_num_considered_actions`, no root noise) or the greedy
network; the same `--seed` gives the same plan. Writes into `--workdir`:
  plan.csv     one row per placed item, in placement order: order, item, copy,
               x, y, z (the corner nearest the container's origin), x_len,
               y_len, z_len (as placed), orientation (how the item was turned:
               "LWH" as listed, "WLH" a quarter turn about the vertical, ...;
               only "LWH" unless the run was trained with --rotations),
               volume, all lengths in mm;
  plan.json    the same rows, the items that did not fit, utilization, policy;
  plan.png     the packed container; plan_steps.gif one frame per placement;
and prints a one-screen summary.

A CSV with more items than `--max_num_items` (the trained run's unless given)
is refused in one line that says to give a larger one. Observations are fractions of the
container, so a container other than the one trained on (`--container_dims`)
is packed as is, but the network has only seen its training container.
"""
import csv
from pathlib import Path

import jax

from purepi.cli import settings
from purepi.env import viewer
from purepi.errors import UsageError, naming
from purepi.evaluation.evaluator import make_evaluation_search_policy
from purepi.evaluation.protocol import make_env
from purepi.networks import make_network
from purepi.policies.load_plan import LoadPlan, Placement, load_plan, pack_one
from purepi.policies.search_policy import make_greedy_policy
from purepi.training.checkpoints import load_params
from purepi.training.workdir import prepare_workdir, write_json

# Settings of this call that replace the trained run's: what to pack, how, and where to write.
def packing_policy(config, env, network, params):
  if config.pack_policy == "greedy":
    return make_greedy_policy(env, network, params), "greedy network"
  policy_fn = make_evaluation_search_policy(config, env, network, params)
  return policy_fn, f"network + Gumbel MuZero search, {config.eval_num_simulations} simulations"


def write_plan(plan: LoadPlan, policy_name: str, config, directory: Path):
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
      "csv": config.csv_path, "container_mm": plan.container, "policy": policy_name,
      "seed": config.seed, "utilization": plan.utilization,
      "placed": [placement._asdict() for placement in plan.placements],
      "did_not_fit": [{name: value for name, value in placement._asdict().items()
                       if name in ("item", "name", "copy", "x_len", "y_len", "z_len", "volume")}
                      for placement in plan.unplaced]})
  return csv_path, json_path


def summary(plan: LoadPlan, policy_name: str, config, paths) -> str:
  total = len(plan.placements) + len(plan.unplaced)
  lines = [f"Load plan for {config.csv_path} in a {' x '.join(map(str, plan.container))} mm container "
           f"({policy_name}, seed {config.seed})",
           f"placed {len(plan.placements)} of {total} items, volume utilization {plan.utilization:.1%}"]
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
  params, trained = load_params(config.checkpoint or config.workdir)
  run_config = settings.for_trained_run(config, trained, settings.FROM_THE_TRAINED_RUN_UNLESS_GIVEN["pack"])
  try:
    env = make_env(run_config)
  except UsageError as error:
    if "more than max_num_items" in str(error):
      raise UsageError(f"{error}: the network packs any number of items, give --max_num_items (and "
                       "--max_num_ems, --obs_num_ems, about twice as many) for the whole load") from None
    raise
  network = make_network(run_config)
  policy_fn, policy_name = packing_policy(run_config, env, network, params)
  directory = prepare_workdir(config.workdir)
  instance_key, policy_key = jax.random.split(jax.random.PRNGKey(config.seed))
  states, actions, valid = pack_one(env, policy_fn, instance_key, policy_key)
  plan = load_plan(states, actions, valid, env.generator.item_names)
  paths = list(write_plan(plan, policy_name, run_config, directory))
  final = jax.tree.map(lambda leaf: leaf[-1], states)
  viewer.render(final, path=str(directory / "plan.png"))
  num_frames = 1 + int(valid.sum())
  viewer.animate(jax.tree.map(lambda leaf: leaf[:num_frames], states), str(directory / "plan_steps.gif"))
  paths += [directory / "plan.png", directory / "plan_steps.gif"]
  print(summary(plan, policy_name, run_config, paths))
  return plan
