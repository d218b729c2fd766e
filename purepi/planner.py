"""Load plans from Python: `purepi.pack` packs a real container with a trained network.

  import purepi
  plan = purepi.pack("docs/example_load.csv")              # the network shipped with purepi
  plan = purepi.pack([("pallet", 1200, 800, 1400, 4), ("crate", 2000, 1100, 1000, 3)],
                     container_dims=(12030, 2350, 2390), checkpoint="workdirs/distill")
  plan.utilization, plan.placements[0], plan.unplaced

`--mode=pack` runs the same computation (`plan_load`) and writes the plan's files.

Nothing in the network depends on how many items or EMSs it sees (embeddings and MLPs act per
token, attention over any set, the policy head per pair), so a load is packed at its own size:
`max_num_items` is the number of items in the load (never fewer than the trained run's),
`max_num_ems` is `ems_slots` of that and `obs_num_ems` `OBSERVED_EMS_PER_ITEM` per item, unless the
command line gives them.
A load whose episode would not fit in memory (`estimate_pack_bytes`) is
refused in one line that names the largest load that would.
"""
import dataclasses
import math
import os
from pathlib import Path

import jax
from tqdm import tqdm

from purepi.anytime import pack_anytime
from purepi.config import ANYTIME_WIDER_SIMULATIONS, PACK_DEFAULTS, PACK_POLICIES, validate_floats
from purepi.env.generator import TWENTY_FOOT_DIMS
from purepi.env.make import ems_slots, make_env
from purepi.errors import UsageError
from purepi.evaluation.evaluator import make_evaluation_search_policy
from purepi.evaluation.protocol import warn_of_overflows
from purepi.networks import make_network
from purepi.policies.load_plan import LoadPlan, load_plan, pack_one
from purepi.policies.search_policy import make_greedy_policy
from purepi.training import memory
from purepi.training.trained_networks import load_params

# The network `pack` uses when given no checkpoint (its config.json, params.msgpack and provenance.md):
# trained on container loads with orientation rules and full support (real_loads.flags). The main
# job's network ships beside it, in shipped_network/ (`--checkpoint=purepi/shipped_network`).
REAL_LOAD_NETWORK = Path(__file__).parent / "real_load_network"
# EMSs the network sees per item (the largest): BinPack-v2's 40 for 20 items. On the 132-item
# docs/example_load.csv, seeing the 264 largest of 1003 slots packed as well as seeing all (both
# 83.9%) in half the time (one measurement, the cores shared with a training run).
OBSERVED_EMS_PER_ITEM = 2
def pack(items, container_dims=TWENTY_FOOT_DIMS, checkpoint=None, policy: str = "anytime", seed: int = 0,
         progress: bool = False, time_limit: float = 60.0, min_support: float = PACK_DEFAULTS["min_support"],
         rotation_rule: str = PACK_DEFAULTS["rotation_rule"]) -> LoadPlan:
  """The load plan of `items` in a container of `container_dims` (length, width, height; mm).

  Args:
    items: a CSV file (`Item_Name,Length,Width,Height,Quantity[,Rotation]`, as `--mode=pack` reads) or
      `(name, length, width, height, quantity[, rotation])` rows, lengths in whole millimetres.
    container_dims: the container's inner lengths in mm; a 20-foot container by default.
    checkpoint: a trained workdir or one of its checkpoints; None is the real-load network shipped
      with purepi (`REAL_LOAD_NETWORK`).
    policy: "anytime" (the best plan found in `time_limit` seconds: `purepi.anytime`), "search" (the
      network with the evaluation's Gumbel MuZero search) or "greedy" (the network alone).
    seed: the same seed gives the same plan (anytime: within the same number of tries).
    time_limit: seconds the anytime packer may spend, compilation included.
    min_support: the fraction of its base each box must rest on (the floor or box tops); 0 allows
      boxes on air (Jumanji's rule).
    rotation_rule: how a box turns when its row gives no rule: "none", "upright" (this side up),
      "any", or three 0/1 flags (its length, width, height may stand vertical).
    progress: show a progress bar, one step per item.

  Returns:
    The `LoadPlan`: placements in order, the items that did not fit, the utilization, and the
    episode's states (for pictures: `purepi.env.viewer.render(plan.final_state)`).

  Raises:
    UsageError (a ValueError): bad items, a container no item fits in, a load too large for memory.
  """
  if policy not in PACK_POLICIES:
    raise UsageError(f"policy={policy!r} is not one of {', '.join(PACK_POLICIES)}")
  params, trained = load_params(str(checkpoint or REAL_LOAD_NETWORK))
  csv_path = str(items) if isinstance(items, (str, os.PathLike)) else ""
  config = dataclasses.replace(trained, mode="pack", csv_path=csv_path, pack_policy=policy, seed=seed,
                               container_dims=tuple(container_dims), time_limit=time_limit,
                               min_support=min_support, rotation_rule=rotation_rule)
  validate_floats(config)
  rows = None if csv_path else list(items)
  config = sized_for_load(config, rows)
  return plan_load(config, params, rows, progress)


def trained_network(config) -> str:
  """The trained network a mode runs: `--checkpoint`, else the real-load network shipped with purepi
  for `--mode=pack` and the workdir's run for the other modes."""
  return config.checkpoint or str(REAL_LOAD_NETWORK if config.mode == "pack" else config.workdir)


def sized_for_load(config, rows=None, given=()):
  """`config` with the instance sizes of its load (`config.csv_path`, or `rows`; else random instances
  of `config.max_num_items`): see the module docstring. Sizes named in `given` stay as they are."""
  load_size = (len(make_env(dataclasses.replace(config, max_num_items=None), rows).generator.item_names)
               if config.csv_path or rows is not None else config.max_num_items)
  num_items = config.max_num_items if "max_num_items" in given else max(config.max_num_items, load_size)
  num_slots = config.max_num_ems if "max_num_ems" in given else max(config.max_num_ems, ems_slots(num_items))
  num_observed = config.obs_num_ems if "obs_num_ems" in given else min(
      max(config.obs_num_ems, OBSERVED_EMS_PER_ITEM * num_items), num_slots)
  return dataclasses.replace(config, max_num_items=num_items, max_num_ems=num_slots, obs_num_ems=num_observed)


def plan_load(config, params, rows=None, progress: bool = False) -> LoadPlan:
  """Packs the load of `config` (`config.csv_path`, or `rows`) with the trained `params`; a plan that
  lost EMSs to full slots is said on stderr (`warn_of_overflows`)."""
  try:
    env = make_env(config, rows)
  except UsageError as error:
    if "more than max_num_items" not in str(error):
      raise
    raise UsageError(f"{error}: leave --max_num_items out to pack the load at its own size, or give "
                     "a larger one") from None
  check_pack_fits(config, env)
  plan = _pack(config, env, params, rows, progress)
  warn_of_overflows(config, {plan.policy: int(plan.final_state.lost_ems > 0)}, 1)
  return plan


def _pack(config, env, params, rows, progress: bool) -> LoadPlan:
  """The plan of `config.pack_policy` for `env`'s load."""
  if config.pack_policy == "anytime":
    return pack_anytime(config, env, params, rows, progress)
  network = make_network(config)
  if config.pack_policy == "greedy":
    policy_fn, policy_name = make_greedy_policy(env, network, params), "greedy network"
  else:
    policy_fn = make_evaluation_search_policy(config, env, network, params)
    policy_name = f"network + Gumbel MuZero search, {config.eval_num_simulations} simulations"
  instance_key, policy_key = jax.random.split(jax.random.PRNGKey(config.seed))
  num_items = len(env.generator.item_names)
  with tqdm(total=num_items, desc="packing", unit="item", leave=False, disable=not progress,
            dynamic_ncols=True) as bar:
    states, actions, valid = pack_one(env, policy_fn, instance_key, policy_key,
                                      on_step=lambda step: bar.update(int(step) + 1 - bar.n))
  return load_plan(states, actions, valid, env.generator.item_names, policy_name)


def check_pack_fits(config, env) -> None:
  """UsageError, in one line, when packing `env`'s load needs more memory than is available,
  naming the estimate and the largest load of this container that would fit."""
  needed = estimate_pack_bytes(config, env)
  available = memory.available_bytes(jax.local_devices()[0])
  if needed <= available:
    return
  fits = lambda num_items: estimate_pack_bytes(
      config, make_env(dataclasses.replace(config, csv_path="", generator="boxes", max_num_items=num_items,
                                           max_num_ems=ems_slots(num_items),
                                           obs_num_ems=OBSERVED_EMS_PER_ITEM * num_items))) <= available
  lowest, highest = 1, env.generator.max_num_items  # fits(lowest); not fits(highest)
  while highest - lowest > 1:
    middle = (lowest + highest) // 2
    lowest, highest = (middle, highest) if fits(middle) else (lowest, middle)
  raise UsageError(
      f"packing {len(env.generator.item_names)} items (max_num_items={env.generator.max_num_items}, "
      f"max_num_ems={env.generator.max_num_ems}) needs about {needed / 2 ** 30:.1f} GiB but "
      f"{available / 2 ** 30:.1f} GiB are available: at most about {lowest} items fit, split the load")


def estimate_pack_bytes(config, env) -> int:
  """Bytes one searched (or greedy) episode of `env` needs: every state kept for the plan's
  pictures, the search tree, the network's largest activations (the `[E, I(, R), D]` hidden
  layer of the pairwise policy head, the attention weights of `E + I` tokens) and the EMS
  update's `[E, E]` tables (a few bytes a pair for each of the 6 face directions), doubled for
  XLA's temporaries. Like training's `memory.estimate_bytes`, a floor meant to refuse loads that
  cannot fit."""
  state, timestep = jax.eval_shape(env.reset, jax.random.PRNGKey(0))
  num_actions = math.prod(timestep.observation.action_mask.shape)
  state_bytes = memory.tree_bytes(state)
  num_steps = env.generator.max_num_items
  recorded = (num_steps + 1) * state_bytes + num_steps * (memory.tree_bytes(timestep.observation) + 16)
  simulations = {"greedy": 0, "search": config.eval_num_simulations,
                 "anytime": config.eval_num_simulations * ANYTIME_WIDER_SIMULATIONS}[config.pack_policy]
  search = (simulations + 1) * (state_bytes + 4 * num_actions)
  model_size = config.num_heads * config.key_size
  num_tokens = env.obs_num_ems + env.generator.max_num_items
  network = 4 * max(num_actions * model_size, config.num_heads * num_tokens ** 2)
  ems_update = 6 * 4 * env.generator.max_num_ems ** 2
  return int(memory.TEMPORARIES_FACTOR * (recorded + search + max(network, ems_update)))
