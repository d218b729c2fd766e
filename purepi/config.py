"""Every hyperparameter of a run, declared once.

`run.py` turns each field into an absl flag (name, default and help taken from
here), so a flag file, the checkpointed config and the code read the same names.
"""
import dataclasses
from typing import Tuple

LEARNING_RATE_SCHEDULES = ("constant", "cosine")
MODES = ("distill", "ppo", "eval", "baselines", "inspect", "render", "compare")


def _field(default, help_text):
  return dataclasses.field(default=default, metadata={"help": help_text})


@dataclasses.dataclass(frozen=True)
class Config:
  # What to run and where.
  mode: str = _field("distill", "One of: " + ", ".join(MODES) + ".")
  workdir: str = _field("workdirs/distill", "Run directory: metrics, plots, checkpoints, renders.")
  seed: int = _field(0, "Seed of the training run (instances, search noise, initialisation).")

  # Environment (Jumanji BinPack-v2 defaults).
  obs_num_ems: int = _field(40, "Number of EMSs (largest first) in each observation.")
  max_num_ems: int = _field(40, "Number of EMSs the environment tracks.")
  max_num_items: int = _field(20, "Maximum number of items of an instance.")
  split_num_same_items: int = _field(2, "RandomGenerator: identical items made per split.")
  csv_path: str = _field("", "If set, instances come from this CSV (Item_Name,Length,Width,Height,Quantity in mm).")

  # Collection and training.
  num_iterations: int = _field(100, "Policy-iteration iterations (collect, then train).")
  rollout_batch_size: int = _field(64, "Episodes collected in parallel per iteration (all devices).")
  training_batch_size: int = _field(256, "Minibatch size of a gradient step (all devices).")
  num_epochs: int = _field(1, "Passes over the collected data per iteration.")
  learning_rate: float = _field(1e-3, "Adam learning rate.")
  learning_rate_schedule: str = _field(
      "constant", "constant, or cosine: decay to 0 over num_iterations' gradient steps.")
  max_grad_norm: float = _field(1.0, "Global-norm gradient clipping.")
  value_loss_weight: float = _field(1.0, "Weight of the value regression loss.")

  # Search.
  num_simulations: int = _field(16, "Search simulations per decision.")
  max_num_considered_actions: int = _field(16, "Gumbel-Top-k: actions considered at the root.")
  gumbel_scale: float = _field(1.0, "Scale of the root Gumbel noise (0 = deterministic).")

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

  # Evaluation, checkpoints, outputs.
  eval_interval: int = _field(10, "Evaluate every this many iterations (and at the end).")
  save_interval: int = _field(10, "Checkpoint every this many iterations (and at the end).")
  eval_num_episodes: int = _field(1024, "Held-out instances for evaluation.")
  eval_seed: int = _field(12345, "Seed of the held-out instances (fixed across runs).")
  eval_num_simulations: int = _field(16, "Simulations of the search evaluation.")
  eval_gumbel_scale: float = _field(0.0, "Root Gumbel noise of the search evaluation (0: the search's own choice, no noise).")
  num_renders: int = _field(4, "Greedy-packed held-out instances rendered at the end.")
  num_episodes: int = _field(1024, "baselines: number of instances.")
  checkpoint: str = _field("", "inspect/render/eval: workdir or checkpoint to load (empty: untrained).")
  tree_out: str = _field("", "inspect: write the search tree as Graphviz dot to this path.")
  inspect_num_steps: int = _field(3, "inspect: greedy steps before the searched state (0 = fresh instance).")
  workdirs: Tuple[str, ...] = _field((), "compare: workdirs to compare.")
  progress: bool = _field(True, "Show a progress bar.")


def validate(config: Config) -> None:
  """Raises ValueError with a one-line message naming the first bad setting."""

  def require(condition, message):
    if not condition:
      raise ValueError(message)

  require(config.mode in MODES, f"--mode={config.mode!r} is not one of {', '.join(MODES)}")
  positive = ("obs_num_ems", "max_num_ems", "max_num_items", "split_num_same_items",
              "num_iterations", "rollout_batch_size", "training_batch_size", "num_epochs",
              "num_simulations", "max_num_considered_actions", "num_layers", "num_heads",
              "key_size", "eval_interval", "save_interval", "eval_num_episodes",
              "eval_num_simulations", "num_episodes")
  for name in positive:
    value = getattr(config, name)
    require(value > 0, f"--{name} must be positive, got {value}")
  require(config.obs_num_ems <= config.max_num_ems,
          f"--obs_num_ems={config.obs_num_ems} cannot exceed --max_num_ems={config.max_num_ems}")
  require(config.learning_rate > 0, f"--learning_rate must be positive, got {config.learning_rate}")
  require(config.learning_rate_schedule in LEARNING_RATE_SCHEDULES,
          f"--learning_rate_schedule={config.learning_rate_schedule!r} is not one of "
          f"{', '.join(LEARNING_RATE_SCHEDULES)}")
  require(config.max_grad_norm > 0, f"--max_grad_norm must be positive, got {config.max_grad_norm}")
  require(0.0 <= config.discount <= 1.0, f"--discount must be in [0, 1], got {config.discount}")
  require(0.0 <= config.gae_lambda <= 1.0, f"--gae_lambda must be in [0, 1], got {config.gae_lambda}")
  require(config.inspect_num_steps >= 0,
          f"--inspect_num_steps must be >= 0, got {config.inspect_num_steps}")
  require(config.gumbel_scale >= 0, f"--gumbel_scale must be >= 0, got {config.gumbel_scale}")
  require(config.eval_gumbel_scale >= 0,
          f"--eval_gumbel_scale must be >= 0, got {config.eval_gumbel_scale}")
  require(all(units > 0 for units in config.mlp_units),
          f"--mlp_units must be positive integers, got {','.join(map(str, config.mlp_units))}")
  require(config.mode != "compare" or config.workdirs, "--mode=compare needs --workdirs=DIR[,DIR...]")


def validate_for_devices(config: Config, num_devices: int) -> None:
  """Raises ValueError if the batch sizes do not split evenly over the devices."""
  for name in ("rollout_batch_size", "training_batch_size", "eval_num_episodes"):
    value = getattr(config, name)
    if value % num_devices:
      raise ValueError(f"--{name}={value} is not divisible by the {num_devices} local devices")
