"""Every hyperparameter of a run, declared once.

`run.py` turns each field into an absl flag (name, default and help taken from
here), so a flag file, the checkpointed config and the code read the same names.

Longer than 300 lines because every setting is declared here once, with its help text, and checked here.
"""
import dataclasses
import math
from typing import Tuple

from purepi.errors import UsageError

LEARNING_RATE_SCHEDULES = ("constant", "cosine")
POLICY_TARGETS = ("improved", "visits")
PACK_POLICIES = ("anytime", "search", "greedy")
ROTATIONS = ("none", "upright", "all")  # purepi.env.orientations, which config may not import
GENERATORS = ("cut", "boxes", "loads")
VALUE_POOLINGS = ("mean", "sum")
MODES = ("distill", "ppo", "eval", "baselines", "inspect", "render", "compare", "pack", "export")
# Settings a resumed run may change: how long it runs and what it reports. The
# workdir is the directory that holds the run, however its path is spelled. The
# others define the run: a workdir refuses to continue with a different value.
RESUMABLE_CHANGES = ("num_iterations", "budget", "eval_interval", "save_interval", "num_renders", "progress",
                     "checkpoint", "tree_out", "workdirs", "num_seeds", "inspect_num_steps",
                     "inspect_num_simulations", "inspect_num_considered_actions",
                     "workdir", "keep_checkpoints", "pack_policy", "tensorboard",
                     "coordinator_address", "num_processes", "process_id", "distributed_timeout_s")
# Settings one trainer reads and the other never does (PPO collects without search and has
# no replay buffer; distillation has no clipped surrogate). A run ignores the other
# trainer's settings: they neither block its resumption nor tell its runs apart.
TRAINER_ONLY_SETTINGS = {
    "distill": ("num_simulations", "max_num_considered_actions", "gumbel_scale", "policy_target",
                "value_loss_weight", "replay_iterations", "greedy_rollout_fraction", "search_value_scale"),
    "ppo": ("gae_lambda", "clip_eps", "value_clip_eps", "entropy_coef", "value_coef"),
}
# Settings of earlier versions that no longer exist, each with the flag that does its work now:
# reading an old workdir's config.json drops them, and the command line names the replacement.
RETIRED_FIELDS = {"num_episodes": "eval_num_episodes"}  # --mode=baselines plays the held-out instances
# Settings added since earlier versions wrote config.json, each with the setting an older workdir
# used in its place: reading such a workdir copies that value, so it is evaluated as before.
ADDED_FIELDS = {"eval_max_num_considered_actions": "max_num_considered_actions",
                "eval_search_value_scale": "search_value_scale"}
# What --mode=pack and purepi.pack do unless told otherwise, whatever the trained run did: plans a
# loader accepts (each box on at least 3/4 of its base: a uniformly filled box's centre of gravity then
# lies over its support, which any fraction above 1/2 ensures, here with a margin; the literature's full
# support is --min_support=1), boxes turned only about the vertical unless their row says otherwise
# (a CSV's Height is the height a box is meant to stand at), and the anytime packer, in a 20-foot
# container unless --container_dims says otherwise, whatever container the network trained in.
PACK_DEFAULTS = {"min_support": 0.75, "rotation_rule": "upright", "pack_policy": "anytime",
                 "container_dims": (5870, 2330, 2200)}
# The anytime packer's wider search: these factors times the evaluation search's simulations and
# considered actions (purepi.anytime; the pack memory estimate counts its tree).
ANYTIME_WIDER_SIMULATIONS, ANYTIME_WIDER_CONSIDERED_ACTIONS = 2, 4
# Settings added since, whose every older workdir ran with one value (not the new default).
FORMER_VALUES = {"value_pooling": "sum"}


def _field(default, help_text):
  return dataclasses.field(default=default, metadata={"help": help_text})


@dataclasses.dataclass(frozen=True)
class Config:
  # What to run and where.
  mode: str = _field("distill", "One of: " + ", ".join(MODES) + ".")
  workdir: str = _field("workdirs/distill", "Run directory: metrics, plots, checkpoints, renders.")
  seed: int = _field(0, "Seed of the training run (instances, search noise, initialisation).")
  num_seeds: int = _field(
      1, "distill/ppo: train seeds seed, seed+1, ..., each in its own WORKDIR/seed_<seed> (resumable); "
      "1 trains in WORKDIR itself.")

  # Environment (Jumanji BinPack-v2 defaults).
  obs_num_ems: int = _field(40, "Number of EMSs (largest first) in each observation.")
  max_num_ems: int = _field(40, "Number of EMSs the environment tracks.")
  max_num_items: int = _field(20, "Maximum number of items of an instance.")
  split_num_same_items: int = _field(2, "RandomGenerator: identical items made per split.")
  generator: str = _field(
      "cut", "Random instances: cut = Jumanji's BinPack-v2 (the container cut into items, so a perfect "
      "packing exists); boxes = items with sides drawn independently of the container (not cut from it; "
      "about one container of volume, so some items are left out); loads = container loads drawn as "
      "Bischoff and Ratcliff drew their benchmark's (3 to 100 box types, each with its own orientation "
      "rule, boxes filling the container: purepi.env.load_generator).")
  train_num_items: Tuple[int, ...] = _field(
      (), "distill/ppo: train over mixed sizes: each training instance of --generator has a number of items "
      "drawn uniformly from this list (e.g. 20,50,100), padded to --max_num_items (at least the largest); "
      "evaluation stays at --max_num_items. Empty: every instance is of --max_num_items.")
  csv_path: str = _field("", "If set, instances come from this CSV (Item_Name,Length,Width,Height,Quantity in mm).")
  container_dims: Tuple[int, ...] = _field(
      (5870, 2330, 2200), "Container length, width, height in mm (default: a 20-foot container).")
  min_support: float = _field(
      0.0, "An item may be placed only where at least this fraction of its base rests on the floor or "
      "on placed items (stable stacks); 0 allows any placement, as Jumanji's BinPack does.")
  rotations: str = _field(
      "none", "How items may be turned: none (as listed, as Jumanji's BinPack does), upright (also a "
      "quarter turn about the vertical axis) or all (any face down: 6 orientations). The action becomes "
      "(EMS, item, orientation).")

  # Collection and training.
  num_iterations: int = _field(100, "Policy-iteration iterations (collect, then train).")
  budget: float = _field(
      1.0, "distill/ppo: train for this many times --num_iterations (a number >= 1; the product rounded): the same "
      "recipe, longer: a cosine learning rate decays over all of them, evaluations stay every "
      "--eval_interval iterations. config.json stores the product as num_iterations.")
  rollout_batch_size: int = _field(64, "Episodes collected in parallel per iteration (all devices).")
  training_batch_size: int = _field(256, "Minibatch size of a gradient step (all devices).")
  num_epochs: int = _field(
      1, "Gradient steps per iteration, in passes over one iteration's worth of steps (with a replay "
      "buffer the minibatches are drawn from all of it).")
  replay_iterations: int = _field(
      1, "distill: the update draws its minibatches from the steps of the last this many iterations "
      "(an on-device replay buffer); 1 = only the freshly collected ones.")
  learning_rate: float = _field(1e-3, "Adam learning rate.")
  learning_rate_schedule: str = _field(
      "constant", "constant, or cosine: decay to 0 over num_iterations' gradient steps.")
  max_grad_norm: float = _field(1.0, "Global-norm gradient clipping.")
  value_loss_weight: float = _field(
      1.0, "Distillation: weight of the value regression loss against the policy cross-entropy "
      "(distill.flags: 10; PPO has --value_coef).")

  # Search.
  num_simulations: int = _field(16, "Search simulations per decision.")
  max_num_considered_actions: int = _field(
      16, "Gumbel-Top-k: actions considered at the root of the training searches (distill).")
  gumbel_scale: float = _field(1.0, "Scale of the root Gumbel noise (0 = deterministic).")
  search_value_scale: float = _field(
      0.1, "distill: c_scale of Gumbel MuZero's sigma(q) = (50 + max N) * c_scale * q in the training "
      "searches: how far completed Q moves the improved policy (the target) from the prior (mctx's "
      "default 0.1; the paper's 1.0). The evaluation's search has --eval_search_value_scale.")
  greedy_rollout_fraction: float = _field(
      0.0, "distill: fraction of each iteration's training episodes that act by the network's greedy "
      "action instead of the search's; the search still gives the policy target of every state they "
      "reach (DAgger: the network also learns on the states its own policy visits).")
  policy_target: str = _field(
      "improved", "distill: improved = Gumbel MuZero's softmax(prior logits + sigma(completed Q)); "
      "visits = root visit counts of MuZero search (PUCT, Dirichlet root noise), the AlphaZero / "
      "Expert Iteration target.")

  # PPO.
  discount: float = _field(1.0, "Discount of the return (the task is episodic).")
  gae_lambda: float = _field(0.95, "PPO: GAE lambda.")
  clip_eps: float = _field(0.2, "PPO: clipping of the probability ratio.")
  value_clip_eps: float = _field(0.2, "PPO: clipping of the value update.")
  entropy_coef: float = _field(0.01, "PPO: entropy bonus.")
  value_coef: float = _field(0.5, "PPO: value loss coefficient.")

  # Network.
  num_layers: int = _field(2, "Transformer layers (self- and cross-attention each).")
  num_heads: int = _field(4, "Attention heads.")
  key_size: int = _field(16, "Size of each attention head; the model size is num_heads * key_size.")
  mlp_units: Tuple[int, ...] = _field((128, 128), "Hidden sizes of every attention block's MLP and of the value head.")
  pairwise_policy_head: bool = _field(
      False, "Add a small MLP over each (EMS, item) pair (embeddings and fit geometry) to the bilinear "
      "policy logits; False is the blog's bilinear head.")
  value_pooling: str = _field(
      "mean", "How the value head pools the EMS and item embeddings: mean over the present tokens, or "
      "sum (Jumanji's critic; under the value's sigmoid it can start saturated, at 0 or 1 for every "
      "state, and stay there at model size 64: docs/screening.md).")

  # Evaluation, checkpoints, outputs.
  eval_interval: int = _field(10, "Evaluate every this many iterations (and at the end).")
  save_interval: int = _field(10, "Checkpoint every this many iterations (and at the end).")
  keep_checkpoints: int = _field(
      2, "Checkpoints kept (the newest ones); at least 2, so a damaged newest one has a fallback.")
  eval_num_episodes: int = _field(1024, "Held-out instances for evaluation (and --mode=baselines).")
  eval_seed: int = _field(12345, "Seed of the held-out instances (fixed across runs).")
  eval_num_simulations: int = _field(16, "Simulations of the search evaluation.")
  eval_max_num_considered_actions: int = _field(
      16, "Gumbel-Top-k actions considered at the root of the search evaluation (and of --mode=pack): "
      "part of the evaluation protocol, the same for every method compared.")
  eval_gumbel_scale: float = _field(0.0, "Root Gumbel noise of the search evaluation (0: the search's own choice, no noise).")
  eval_search_value_scale: float = _field(
      0.1, "c_scale of the search evaluation (and of --mode=pack): part of the evaluation protocol, "
      "the same for every method compared, whatever --search_value_scale a run trained with.")
  num_renders: int = _field(4, "Greedy-packed held-out instances rendered at the end.")
  checkpoint: str = _field("", "inspect/render/eval: workdir or checkpoint to load (empty: untrained).")
  tree_out: str = _field("", "inspect: write the search tree as Graphviz dot to this path.")
  inspect_num_steps: int = _field(3, "inspect: greedy steps before the searched state (0 = fresh instance).")
  inspect_num_simulations: int = _field(
      32, "inspect: simulations of the search shown (more than the considered actions, so that "
      "Sequential Halving has several phases).")
  inspect_num_considered_actions: int = _field(8, "inspect: Gumbel-Top-k actions considered at the root.")
  workdirs: Tuple[str, ...] = _field((), "compare: workdirs to compare.")
  pack_policy: str = _field(
      "anytime", "pack: anytime (the best plan found in --time_limit seconds by the heuristics, the greedy "
      "network, its search and further searches: purepi.anytime), search (the network with "
      "eval_num_simulations of Gumbel MuZero search, no root noise) or greedy (the network alone).")
  time_limit: float = _field(
      60.0, "pack: seconds the anytime packer may spend on a load, compilation included (the heuristics' "
      "plans are always made, so a tiny limit still gives the best of them).")
  rotation_rule: str = _field(
      "", "pack: how an item may turn when its CSV row gives no Rotation: none, upright (this side up), any, "
      "or three 0/1 flags (its length, width, height may stand vertical). pack's default: upright. "
      "Empty: any orientation --rotations allows (Jumanji's BinPack).")
  progress: bool = _field(True, "Show progress bars.")

  # Devices and processes (README, "More than one machine"); batch sizes above are global.
  num_cpu_devices: int = _field(
      0, "Devices JAX makes of this machine's CPU cores, each playing an equal share of every batch "
      "on its own core under pmap (0: JAX's default, one, or XLA_FLAGS' "
      "--xla_force_host_platform_device_count). Not read where JAX runs on an accelerator.")
  coordinator_address: str = _field(
      "", "distill/ppo across processes: HOST:PORT of process 0, the same in every process; 'auto' "
      "lets JAX detect the cluster (SLURM, Open MPI, Kubernetes, TPU pods); empty: one process.")
  num_processes: int = _field(1, "Processes of the run (with --coordinator_address=HOST:PORT).")
  process_id: int = _field(0, "This process's index, 0 to num_processes - 1; process 0 writes the files.")
  distributed_timeout_s: int = _field(
      120, "Seconds to wait for every process to reach the coordinator before failing.")
  tensorboard: bool = _field(
      False, "distill/ppo: also write every metric to WORKDIR/tensorboard (needs the tensorboard extra).")


# Float settings and the range each must lie in: (name, lowest, highest, lowest allowed itself).
FLOAT_RANGES = (
    ("budget", 1.0, math.inf, True),
    ("learning_rate", 0.0, math.inf, False),
    ("max_grad_norm", 0.0, math.inf, False),
    ("value_loss_weight", 0.0, math.inf, True),
    ("gumbel_scale", 0.0, math.inf, True),
    ("greedy_rollout_fraction", 0.0, 1.0, True),
    ("eval_gumbel_scale", 0.0, math.inf, True),
    ("search_value_scale", 0.0, math.inf, False),
    ("eval_search_value_scale", 0.0, math.inf, False),
    ("discount", 0.0, 1.0, True),
    ("min_support", 0.0, 1.0, True),
    ("time_limit", 0.0, math.inf, False),
    ("gae_lambda", 0.0, 1.0, True),
    ("clip_eps", 0.0, math.inf, False),
    ("value_clip_eps", 0.0, math.inf, False),
    ("entropy_coef", 0.0, math.inf, True),
    ("value_coef", 0.0, math.inf, True),
)


def settings_ignored_by(mode: str) -> frozenset:
  """Settings a run of `mode` never reads: the other trainers' own settings."""
  return frozenset(name for trainer, names in TRAINER_ONLY_SETTINGS.items() if trainer != mode
                   for name in names)


def validate_floats(config: Config) -> None:
  """Raises UsageError naming the first float setting outside its range (`FLOAT_RANGES`)."""
  for name, lowest, highest, lowest_allowed in FLOAT_RANGES:
    value = getattr(config, name)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
      raise UsageError(f"--{name} must be a finite number, got {value!r}")
    above_lowest = value >= lowest if lowest_allowed else value > lowest
    bounds = f"{'[' if lowest_allowed else '('}{lowest:g}, {highest:g}]" if highest < math.inf else (
        f"{'>=' if lowest_allowed else '>'} {lowest:g}")
    if not (above_lowest and value <= highest):
      raise UsageError(f"--{name} must be {'in ' if highest < math.inf else ''}{bounds}, got {value}")


def validate(config: Config) -> None:
  """Raises UsageError with a one-line message naming the first bad setting."""

  def require(condition, message):
    if not condition:
      raise UsageError(message)

  require(config.mode in MODES, f"--mode={config.mode!r} is not one of {', '.join(MODES)}")
  positive = ("obs_num_ems", "max_num_ems", "max_num_items", "split_num_same_items",
              "num_iterations", "rollout_batch_size", "training_batch_size", "num_epochs",
              "num_simulations", "max_num_considered_actions", "num_layers", "num_heads",
              "key_size", "eval_interval", "save_interval", "eval_num_episodes",
              "eval_num_simulations", "eval_max_num_considered_actions", "replay_iterations",
              "num_seeds", "inspect_num_simulations", "inspect_num_considered_actions")
  for name in positive:
    value = getattr(config, name)
    require(value > 0, f"--{name} must be positive, got {value}")
  validate_floats(config)
  require(config.keep_checkpoints >= 2,
          f"--keep_checkpoints must be at least 2 (a fallback for a damaged newest one), "
          f"got {config.keep_checkpoints}")
  require(config.obs_num_ems <= config.max_num_ems,
          f"--obs_num_ems={config.obs_num_ems} cannot exceed --max_num_ems={config.max_num_ems}")
  require(config.learning_rate_schedule in LEARNING_RATE_SCHEDULES,
          f"--learning_rate_schedule={config.learning_rate_schedule!r} is not one of "
          f"{', '.join(LEARNING_RATE_SCHEDULES)}")
  require(config.policy_target in POLICY_TARGETS,
          f"--policy_target={config.policy_target!r} is not one of {', '.join(POLICY_TARGETS)}")
  require(config.inspect_num_steps >= 0,
          f"--inspect_num_steps must be >= 0, got {config.inspect_num_steps}")
  require(len(config.container_dims) == 3 and all(length > 0 for length in config.container_dims),
          f"--container_dims must be three positive lengths in mm, got "
          f"{','.join(map(str, config.container_dims))}")
  require(config.rotations in ROTATIONS,
          f"--rotations={config.rotations!r} is not one of {', '.join(ROTATIONS)}")
  require(config.generator in GENERATORS,
          f"--generator={config.generator!r} is not one of {', '.join(GENERATORS)}")
  require(config.value_pooling in VALUE_POOLINGS,
          f"--value_pooling={config.value_pooling!r} is not one of {', '.join(VALUE_POOLINGS)}")
  require(config.pack_policy in PACK_POLICIES,
          f"--pack_policy={config.pack_policy!r} is not one of {', '.join(PACK_POLICIES)}")
  require(all(count > 0 for count in config.train_num_items),
          f"--train_num_items must be positive item counts, got {','.join(map(str, config.train_num_items))}")
  if config.mode in TRAINER_ONLY_SETTINGS and config.train_num_items:
    require(max(config.train_num_items) <= config.max_num_items,
            f"--train_num_items={','.join(map(str, config.train_num_items))} holds more items than "
            f"--max_num_items={config.max_num_items}, to which every instance is padded: raise --max_num_items")
    require(not config.csv_path,
            "--train_num_items draws random instances of --generator: it cannot be given with --csv_path")
  require(config.mode != "pack" or config.csv_path, "--mode=pack needs --csv_path=CONTAINER.csv")
  require(all(units > 0 for units in config.mlp_units),
          f"--mlp_units must be positive integers, got {','.join(map(str, config.mlp_units))}")
  require(config.mode != "compare" or config.workdirs, "--mode=compare needs --workdirs=DIR[,DIR...]")
  require(config.mode != "export" or config.checkpoint, "--mode=export needs --checkpoint=WORKDIR")
  require(config.num_cpu_devices >= 0, f"--num_cpu_devices must be >= 0, got {config.num_cpu_devices}")
  require(config.num_processes >= 1, f"--num_processes must be positive, got {config.num_processes}")
  require(0 <= config.process_id < config.num_processes,
          f"--process_id={config.process_id} must be in 0..{config.num_processes - 1} "
          f"(--num_processes={config.num_processes})")
  require(config.distributed_timeout_s > 0,
          f"--distributed_timeout_s must be positive, got {config.distributed_timeout_s}")
  explicit = config.coordinator_address not in ("", "auto")
  require(config.num_processes == 1 or explicit,
          f"--num_processes={config.num_processes} needs --coordinator_address=HOST:PORT of process 0")
  require(not config.coordinator_address or config.mode in ("distill", "ppo"),
          f"--mode={config.mode} runs in one process: --coordinator_address is for distill and ppo")


def with_budget(config: Config) -> Config:
  """The run `--budget` asks for: `num_iterations` times the budget, rounded; nothing else changes.

  Applied once, to the command line's settings: a workdir's config.json holds the product.
  """
  return dataclasses.replace(config,
                             num_iterations=math.floor(config.num_iterations * config.budget + 0.5))


def validate_for_devices(config: Config, num_devices: int) -> None:
  """Raises UsageError if the batch sizes do not split evenly over the devices."""
  for name in ("rollout_batch_size", "training_batch_size", "eval_num_episodes"):
    value = getattr(config, name)
    if value % num_devices:
      raise UsageError(f"--{name}={value} is not divisible by the {num_devices} devices "
                       "(every process's, together)")
