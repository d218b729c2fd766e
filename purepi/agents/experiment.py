"""Run infrastructure shared by every trainer (search distillation, PPO).

A trainer supplies an `Algorithm`: how to initialise its `TrainState`, how to
collect a batch of experience, and how to learn from it. `run_experiment` does
the rest, identically for every method:

  - pmap of `collect` and `update` over all local devices (axis `AXIS_NAME`);
  - the workdir (README, "Results"): config.json, metrics.jsonl,
    baselines.json, learning_curve.png, checkpoints/, renders/;
  - orbax checkpoints (params, optimiser state, RNG key, counters) and resume
    from the latest one on the same RNG stream;
  - evaluation on the fixed held-out instances, greedy and with search;
  - a progress bar, and the final table beside the heuristics.
"""
import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Dict, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from purepi import config as config_lib
from purepi.agents import evaluation

AXIS_NAME = "devices"


class TrainState(NamedTuple):
  """Everything a trainer learns: network parameters and optimiser state."""
  params: Any
  opt_state: Any


class Algorithm(NamedTuple):
  """What a trainer supplies.

  init: `key -> TrainState`, unreplicated.
  collect: `(train_state, key) -> (batch, metrics)`, one device's share of the
    episodes, run under `jax.pmap(axis_name=AXIS_NAME)`. `metrics` are already
    reduced over devices and hold at least `env_steps` (valid steps, summed
    over devices) and `rollout_return`; a search-based trainer adds
    `search_decisions`.
  update: `(train_state, batch, key) -> (train_state, metrics)`, under the same
    pmap; metrics (`loss`, `policy_loss`, `value_loss`, ...) reduced over devices.
  """
  init: Callable
  collect: Callable
  update: Callable


# Counters carried across iterations and restored on resume.
COUNTERS = ("iteration", "wall_clock_s", "env_steps", "search_decisions")


# --- Workdir files ----------------------------------------------------------


def write_json(path: Path, value) -> None:
  """Writes `value` as JSON through a temporary file, so a reader never sees half a file."""
  temporary = path.with_name(path.name + ".tmp")
  temporary.write_text(json.dumps(value, indent=2) + "\n")
  os.replace(temporary, path)


def read_metrics(path: Path):
  """The records of a `metrics.jsonl`, in order (empty if the file does not exist)."""
  if not path.exists():
    return []
  return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def append_metrics(path: Path, record: Dict[str, Any]) -> None:
  with path.open("a") as file:
    file.write(json.dumps(record) + "\n")


def drop_metrics_after(path: Path, iteration: int) -> None:
  """Removes records past `iteration`, the last checkpoint, before a resumed run redoes them.

  A run stopped between a metrics line and the next checkpoint leaves records
  that the resumed run will write again (identically, since it replays the
  same RNG stream); keeping both would duplicate iterations.
  """
  records = read_metrics(path)
  kept = [record for record in records if record["iteration"] <= iteration]
  if len(kept) < len(records):
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text("".join(json.dumps(record) + "\n" for record in kept))
    os.replace(temporary, path)


# --- Checkpoints ------------------------------------------------------------


class Checkpointer:
  """Orbax checkpoints of `{"params", "opt_state", "key", counters...}` under `directory`.

  Orbax writes each checkpoint to a temporary directory and renames it when
  complete, so an interrupted save never leaves a checkpoint that looks valid.
  """

  def __init__(self, directory, max_to_keep: int = 2):
    import orbax.checkpoint as ocp
    self._ocp = ocp
    self._manager = ocp.CheckpointManager(
        Path(directory).absolute(),
        options=ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=True, enable_async_checkpointing=False))

  def latest_iteration(self) -> Optional[int]:
    return self._manager.latest_step()

  def save(self, iteration: int, payload) -> None:
    self._manager.save(iteration, args=self._ocp.args.StandardSave(payload), force=True)
    self._manager.wait_until_finished()

  def restore(self, template=None, iteration: Optional[int] = None):
    """The payload of `iteration` (default: the latest), shaped like `template` if given."""
    iteration = self.latest_iteration() if iteration is None else iteration
    if iteration is None:
      raise FileNotFoundError(f"no checkpoint in {self._manager.directory}")
    args = self._ocp.args.StandardRestore(template)
    return self._manager.restore(iteration, args=args)


def checkpoint_payload(train_state: TrainState, key, counters) -> Dict[str, Any]:
  payload = {"params": train_state.params, "opt_state": train_state.opt_state,
             "key": np.asarray(key)}
  payload.update({name: np.asarray(counters[name]) for name in COUNTERS})
  return payload


def load_params(checkpoint: str):
  """Params and the run's `Config` from a workdir (its latest checkpoint) or a checkpoint directory.

  The network and environment settings must be the trained run's, so they are
  read from the workdir's config.json.
  """
  path = Path(checkpoint)
  if (path / "checkpoints").is_dir():
    workdir, iteration = path, None
  elif path.parent.name == "checkpoints" and path.name.isdigit():
    workdir, iteration = path.parent.parent, int(path.name)
  else:
    raise FileNotFoundError(f"--checkpoint={checkpoint} is neither a workdir with checkpoints/ "
                            "nor a checkpoints/<iteration> directory")
  run_config = load_config(workdir / "config.json")
  payload = Checkpointer(workdir / "checkpoints").restore(iteration=iteration)
  return payload["params"], run_config


# Settings a resumed run may change: how long it runs and what it reports.
RESUMABLE_CHANGES = ("num_iterations", "eval_interval", "save_interval", "num_renders", "progress",
                     "checkpoint", "tree_out", "workdirs", "num_episodes", "inspect_num_steps")


def check_resumable(stored: config_lib.Config, config: config_lib.Config) -> None:
  """Raises ValueError if `config` would continue `stored`'s workdir as a different run."""
  changed = [f"{field.name}: {getattr(stored, field.name)!r} -> {getattr(config, field.name)!r}"
             for field in dataclasses.fields(config_lib.Config)
             if field.name not in RESUMABLE_CHANGES
             and getattr(stored, field.name) != getattr(config, field.name)]
  if changed:
    raise ValueError(f"--workdir={config.workdir} holds a run with other settings "
                     f"({'; '.join(changed)}); choose another --workdir")


class BatchLayout(NamedTuple):
  """How one iteration's data is split over the local devices (all static)."""
  episodes_per_device: int
  num_steps: int  # rollout length: max_num_items, since each valid step places one item
  num_minibatches: int  # per epoch
  minibatch_per_device: int


def batch_layout(config, env) -> BatchLayout:
  """The split of `rollout_batch_size` episodes and `training_batch_size` minibatches over devices."""
  num_devices = jax.local_device_count()
  episodes_per_device = config.rollout_batch_size // num_devices
  minibatch_per_device = config.training_batch_size // num_devices
  num_steps = env.generator.max_num_items
  steps_per_device = num_steps * episodes_per_device
  if minibatch_per_device > steps_per_device:
    raise ValueError(
        f"--training_batch_size={config.training_batch_size} exceeds the "
        f"{steps_per_device * num_devices} steps collected per iteration "
        f"(rollout_batch_size x max_num_items)")
  return BatchLayout(episodes_per_device, num_steps, steps_per_device // minibatch_per_device,
                     minibatch_per_device)


def init_train_state(env, network, optimizer, key) -> TrainState:
  """Fresh network parameters (shaped by one observation of `env`) and optimiser state."""
  _, timestep = env.reset(jax.random.PRNGKey(0))
  example_observation = jax.tree.map(lambda leaf: leaf[None], timestep.observation)
  params = network.init(key, example_observation)
  return TrainState(params, optimizer.init(params))


def train_on_batch(train_step, train_state, batch, key, num_epochs: int, num_minibatches: int,
                   minibatch_size: int):
  """`num_epochs` passes of shuffled minibatches over one device's collected steps.

  Each epoch takes a random order with the valid steps first, so that padding
  steps gather in the last minibatches, which `train_step` skips once they are
  entirely padding (it reports `has_data` 0 for those).

  Args:
    train_step: `(train_state, minibatch) -> (train_state, metrics)`, metrics
      including `has_data`.
    train_state: the state before the first step.
    batch: `[T, B, ...]` pytree with a `valid` `[T, B]` field.
    key: shuffling key, split once per epoch.
    num_epochs, num_minibatches, minibatch_size: static sizes; the first
      `num_minibatches * minibatch_size` steps of each order are used.

  Returns:
    `(train_state, metrics)`, metrics averaged over the gradient steps taken.
  """
  num_steps = batch.valid.size
  flat_batch = jax.tree.map(lambda leaf: leaf.reshape((num_steps,) + leaf.shape[2:]), batch)

  def run_epoch(train_state, epoch_key):
    permutation = jax.random.permutation(epoch_key, num_steps)
    valid_first = permutation[jnp.argsort(~flat_batch.valid[permutation], stable=True)]
    minibatch_indexes = valid_first[:num_minibatches * minibatch_size].reshape(
        num_minibatches, minibatch_size)
    minibatches = jax.tree.map(lambda leaf: leaf[minibatch_indexes], flat_batch)
    return jax.lax.scan(train_step, train_state, minibatches)

  train_state, step_metrics = jax.lax.scan(run_epoch, train_state, jax.random.split(key, num_epochs))
  has_data = step_metrics.pop("has_data")
  num_updates = jnp.maximum(jnp.sum(has_data), 1.0)
  metrics = {name: jnp.sum(values * has_data) / num_updates for name, values in step_metrics.items()}
  return train_state, metrics


def quiet_logging() -> None:
  """Keeps absl INFO lines (JAX backend probing, Orbax save steps) out of the progress output."""
  from absl import logging
  logging.set_verbosity(logging.WARNING)


def load_config(path: Path) -> config_lib.Config:
  values = json.loads(Path(path).read_text())
  for field in dataclasses.fields(config_lib.Config):
    if isinstance(values.get(field.name), list):
      values[field.name] = tuple(values[field.name])
  return config_lib.Config(**values)


# --- Evaluation -------------------------------------------------------------


class Evaluator:
  """Greedy and search utilization on the held-out instances, split over the devices.

  The two evaluation programs are compiled once and reused at every evaluation.
  """

  def __init__(self, config, env, network, devices):
    from purepi.agents.search_policy import make_greedy_policy, make_search_policy
    num_devices = len(devices)
    instance_keys, policy_key = evaluation.held_out_keys(config)
    self.instance_keys = instance_keys
    self.policy_key = policy_key
    self._sharded_keys = instance_keys.reshape(num_devices, -1, *instance_keys.shape[1:])
    self._policy_keys = jax.random.split(policy_key, num_devices)
    self.num_simulations = config.eval_num_simulations

    def greedy(params, keys, policy_key):
      return evaluation.evaluate_policy(env, make_greedy_policy(env, network, params), keys, policy_key)

    def with_search(params, keys, policy_key):
      policy_fn = make_search_policy(
          env, network, params, num_simulations=config.eval_num_simulations,
          max_num_considered_actions=config.max_num_considered_actions,
          gumbel_scale=config.eval_gumbel_scale, discount=config.discount)
      return evaluation.evaluate_policy(env, policy_fn, keys, policy_key)

    self._greedy = jax.pmap(greedy, axis_name=AXIS_NAME, devices=devices)
    self._search = jax.pmap(with_search, axis_name=AXIS_NAME, devices=devices)

  def __call__(self, replicated_params) -> Dict[str, float]:
    results = {}
    for name, evaluate in (("greedy", self._greedy), ("search", self._search)):
      utilizations = np.asarray(evaluate(replicated_params, self._sharded_keys, self._policy_keys))
      mean, ci95 = evaluation.mean_with_ci95(utilizations.reshape(-1))
      results[f"eval_{name}_utilization"] = mean
      results[f"eval_{name}_ci95"] = ci95
    return results


def write_baselines(config, env, path: Path, instance_keys, policy_key) -> Dict[str, Any]:
  """The heuristics on the held-out instances, measured once per workdir."""
  if path.exists():
    return json.loads(path.read_text())
  from purepi.agents import heuristics
  table = heuristics.baseline_table(env, instance_keys, policy_key)
  table = {name: {key: float(value) for key, value in row.items()} for name, row in table.items()}
  write_json(path, table)
  return table


# --- Outputs ----------------------------------------------------------------


def plot_learning_curve(records, baselines, path: Path) -> None:
  """Held-out utilization (greedy, search; 95% CI bands) and rollout return per iteration."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  figure, axis = plt.subplots(figsize=(8, 5))
  iterations = [record["iteration"] for record in records]
  axis.plot(iterations, [record["rollout_return"] for record in records],
            color="0.6", linewidth=1, label="rollout return (training episodes)")
  evaluated = [record for record in records if "eval_greedy_utilization" in record]
  for name, color in (("greedy", "tab:blue"), ("search", "tab:red")):
    x = np.array([record["iteration"] for record in evaluated])
    mean = np.array([record[f"eval_{name}_utilization"] for record in evaluated])
    ci95 = np.array([record[f"eval_{name}_ci95"] for record in evaluated])
    axis.plot(x, mean, marker="o", color=color, label=f"held-out, {name}")
    axis.fill_between(x, mean - ci95, mean + ci95, color=color, alpha=0.2)
  for (name, row), style in zip((baselines or {}).items(), (":", "--", "-.")):
    axis.axhline(row["mean"], color="k", linestyle=style, linewidth=1, label=name)
  axis.set_xlabel("iteration")
  axis.set_ylabel("volume utilization")
  axis.grid(alpha=0.3)
  axis.legend(loc="lower right", fontsize=8)
  figure.tight_layout()
  temporary = path.with_name(path.stem + ".tmp.png")
  figure.savefig(temporary, dpi=100)
  plt.close(figure)
  os.replace(temporary, path)


def render_greedy_instances(env, network, params, instance_keys, directory: Path):
  """Packs each instance with the greedy network and renders the final container as a PNG."""
  from purepi.agents.search_policy import make_greedy_policy
  from purepi.agents.rollout import rollout
  from purepi.env import viewer

  @jax.jit
  def pack(params, keys):
    state, timestep = jax.vmap(env.reset)(keys)
    policy_fn = make_greedy_policy(env, network, params)
    state, timestep, _ = rollout(env, policy_fn, jax.random.PRNGKey(0), state, timestep,
                                 env.generator.max_num_items)
    return state, timestep.extras["volume_utilization"]

  states, utilizations = pack(params, instance_keys)
  directory.mkdir(parents=True, exist_ok=True)
  paths = []
  for index in range(len(instance_keys)):
    path = directory / f"instance_{index:02d}_utilization_{float(utilizations[index]):.3f}.png"
    viewer.render(jax.tree.map(lambda leaf: leaf[index], states), path=str(path))
    paths.append(path)
  return paths


def format_final_table(record, baselines, num_simulations: int) -> str:
  """Markdown table: the network greedy and with search beside the heuristics."""
  rows = [("network, greedy", record["eval_greedy_utilization"], record["eval_greedy_ci95"]),
          (f"network + search ({num_simulations} simulations)",
           record["eval_search_utilization"], record["eval_search_ci95"])]
  rows += [(name, row["mean"], row["ci95"]) for name, row in (baselines or {}).items()]
  lines = ["| policy | volume utilization | 95% CI |", "|---|---|---|"]
  lines += [f"| {name} | {mean:.4f} | ± {ci95:.4f} |" for name, mean, ci95 in rows]
  return "\n".join(lines)


# --- The loop ---------------------------------------------------------------


def replicate(tree, devices):
  """One copy of `tree` per device, laid out exactly as pmap's own outputs.

  pmap lays its outputs out on a device mesh named after its axis; inputs laid
  out any other way would make the first and second iteration compile apart.
  """
  stacked = jax.tree.map(lambda leaf: np.stack([np.asarray(leaf)] * len(devices)), tree)
  return jax.pmap(lambda tree: tree, axis_name=AXIS_NAME, devices=devices)(stacked)


def unreplicate(tree):
  return jax.tree.map(lambda leaf: leaf[0], tree)


def run_experiment(config, algorithm: Algorithm, env, network):
  """Trains `algorithm` for `config.num_iterations`, resuming from the workdir if it has a checkpoint.

  Returns the metrics records of the whole run (earlier runs of the workdir included).
  """
  from tqdm import tqdm

  devices = jax.local_devices()
  config_lib.validate_for_devices(config, len(devices))
  workdir = Path(config.workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  if (workdir / "config.json").exists():
    check_resumable(load_config(workdir / "config.json"), config)
  write_json(workdir / "config.json", dataclasses.asdict(config))
  metrics_path = workdir / "metrics.jsonl"
  checkpointer = Checkpointer(workdir / "checkpoints")

  key, init_key = jax.random.split(jax.random.PRNGKey(config.seed))
  train_state = algorithm.init(init_key)
  counters = {"iteration": 0, "wall_clock_s": 0.0, "env_steps": 0, "search_decisions": 0}
  if checkpointer.latest_iteration() is not None:
    payload = checkpointer.restore(checkpoint_payload(train_state, key, counters))
    train_state = TrainState(payload["params"], payload["opt_state"])
    key = jnp.asarray(payload["key"])
    counters = {name: payload[name].item() for name in COUNTERS}
    drop_metrics_after(metrics_path, counters["iteration"])
    print(f"Resuming {workdir} from iteration {counters['iteration']}.")

  collect = jax.pmap(algorithm.collect, axis_name=AXIS_NAME, devices=devices)
  update = jax.pmap(algorithm.update, axis_name=AXIS_NAME, devices=devices)
  evaluator = Evaluator(config, env, network, devices)
  replicated_state = replicate(train_state, devices)
  baselines = None
  if (workdir / "baselines.json").exists():
    baselines = json.loads((workdir / "baselines.json").read_text())
  records = read_metrics(metrics_path)

  progress = tqdm(total=config.num_iterations, initial=counters["iteration"], unit="it",
                  disable=not config.progress, dynamic_ncols=True)
  for iteration in range(counters["iteration"] + 1, config.num_iterations + 1):
    key, collect_key, update_key = jax.random.split(key, 3)
    start = time.perf_counter()
    batch, collect_metrics = collect(replicated_state, jax.random.split(collect_key, len(devices)))
    collect_metrics = jax.device_get(unreplicate(collect_metrics))
    collect_s = time.perf_counter() - start
    replicated_state, update_metrics = update(
        replicated_state, batch, jax.random.split(update_key, len(devices)))
    update_metrics = jax.device_get(unreplicate(update_metrics))
    iteration_s = time.perf_counter() - start

    env_steps = int(collect_metrics.pop("env_steps"))
    search_decisions = int(collect_metrics.pop("search_decisions", 0))
    counters = {"iteration": iteration, "wall_clock_s": counters["wall_clock_s"] + iteration_s,
                "env_steps": counters["env_steps"] + env_steps,
                "search_decisions": counters["search_decisions"] + search_decisions}
    record = {"iteration": iteration, "wall_clock_s": counters["wall_clock_s"],
              "env_steps": counters["env_steps"], "decisions_per_s": env_steps / collect_s,
              "collect_s": collect_s, "update_s": iteration_s - collect_s}
    if search_decisions:
      record["search_decisions"] = counters["search_decisions"]
    record.update({name: float(value) for name, value in collect_metrics.items()})
    record.update({name: float(value) for name, value in update_metrics.items()})

    evaluate_now = iteration % config.eval_interval == 0 or iteration == config.num_iterations
    if evaluate_now:
      start = time.perf_counter()
      record.update(evaluator(replicated_state.params))
      if baselines is None:
        baselines = write_baselines(config, env, workdir / "baselines.json",
                                    evaluator.instance_keys, evaluator.policy_key)
      record["eval_s"] = time.perf_counter() - start
    append_metrics(metrics_path, record)
    records.append(record)
    if evaluate_now:
      plot_learning_curve(records, baselines, workdir / "learning_curve.png")
    if iteration % config.save_interval == 0 or iteration == config.num_iterations:
      payload = checkpoint_payload(unreplicate(replicated_state), key, counters)
      checkpointer.save(iteration, payload)

    progress.update(1)
    postfix = {"return": f"{record['rollout_return']:.3f}", "dec/s": f"{record['decisions_per_s']:.0f}"}
    last_eval = next((r for r in reversed(records) if "eval_greedy_utilization" in r), None)
    if last_eval is not None:
      postfix["greedy"] = f"{last_eval['eval_greedy_utilization']:.3f}"
      postfix["search"] = f"{last_eval['eval_search_utilization']:.3f}"
    progress.set_postfix(postfix, refresh=True)
  progress.close()

  final_eval = next((r for r in reversed(records) if "eval_greedy_utilization" in r), None)
  params = unreplicate(replicated_state).params
  if config.num_renders > 0:
    render_keys = evaluator.instance_keys[:config.num_renders]
    render_greedy_instances(env, network, params, render_keys, workdir / "renders")
  if final_eval is not None:
    print(f"\nHeld-out instances: {config.eval_num_episodes} (eval_seed {config.eval_seed}); "
          f"{counters['iteration']} iterations, {counters['wall_clock_s']:.0f} s training, "
          f"{counters['env_steps']} env steps.")
    print(format_final_table(final_eval, baselines, config.eval_num_simulations))
  return records
