"""The training loop every trainer shares (search distillation, PPO).

`run_experiment` takes an `Algorithm` (`purepi.training.algorithm`) and does
the rest, identically for every method:

  - pmap of `collect` and `update` over every device of every process
    (`devices.AXIS_NAME`; `purepi.training.distributed` joins the processes);
    process 0 alone writes the workdir's files and prints;
  - the workdir (README, "Results"): config.json, metrics.jsonl,
    baselines.json, learning_curve.png, checkpoints/, renders/;
  - orbax checkpoints (params, optimiser state, replay buffer, RNG key,
    counters) and resume from the newest readable one whose records metrics.jsonl
    holds, on the same RNG stream, with metrics.jsonl cut back to that checkpoint;
  - evaluation on the fixed held-out instances, greedy and with search;
  - a progress bar, and the final table beside the heuristics;
  - the faults of README's "When things go wrong": a non-finite loss,
    gradient or parameter stops the run before anything non-finite is saved
    (`NonFiniteError`); SIGINT / SIGTERM stop it at the end of the iteration
    under way, after a checkpoint (`Interrupted`).
"""
import contextlib
import dataclasses
import signal
import threading
import time
from pathlib import Path
from typing import Any, Dict

import jax
import jax.numpy as jnp
import numpy as np

from purepi import config as config_lib
from purepi.devices import AXIS_NAME, all_devices, per_device_keys, replicate, unreplicate
from purepi.errors import Interrupted, NonFiniteError
from purepi.evaluation import baselines as baselines_lib
from purepi.evaluation import reports
from purepi.evaluation.evaluator import Evaluator
from purepi.evaluation.protocol import warn_of_overflows
from purepi.training import distributed, memory
from purepi.training import workdir as workdir_lib
from purepi.training.algorithm import Algorithm
from purepi.training.checkpoints import COUNTERS, Checkpointer, checkpoint_payload, device_state_of
from purepi.training.tensorboard import ScalarWriter

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def write_baselines(config, env, path: Path, instance_keys, policy_key) -> Dict[str, Any]:
  """The heuristics on the held-out instances, measured once per workdir."""
  if path.exists():
    return workdir_lib.read_json(path, "baselines.json")
  table = baselines_lib.baseline_table(env, instance_keys, policy_key, progress=config.progress)
  table = {name: {key: float(value) for key, value in row.items()} for name, row in table.items()}
  workdir_lib.write_json(path, table)
  return table


class StopRequests:
  """Records SIGINT / SIGTERM instead of dying, so the loop can stop at a safe point.

  The first signal is recorded and the default handlers come back, so a
  second one stops the process at once.
  """

  def __init__(self):
    self.signal_number = None

  def _record(self, signal_number, frame):
    del frame
    self.signal_number = signal_number
    for each in STOP_SIGNALS:
      signal.signal(each, signal.SIG_DFL if each == signal.SIGTERM else signal.default_int_handler)


@contextlib.contextmanager
def stop_requests():
  """Installs `StopRequests` for the duration (main thread only; elsewhere nothing is caught)."""
  requests = StopRequests()
  if threading.current_thread() is not threading.main_thread():
    yield requests
    return
  previous = {each: signal.getsignal(each) for each in STOP_SIGNALS}
  for each in STOP_SIGNALS:
    signal.signal(each, requests._record)
  try:
    yield requests
  finally:
    for each, handler in previous.items():
      signal.signal(each, handler)


def non_finite_quantities(metrics: Dict[str, float], params_finite: bool):
  """Names of the iteration's non-finite metrics (losses, `grad_norm`, ...) and of the parameters."""
  names = [name for name, value in metrics.items() if not np.isfinite(value)]
  return names + ([] if params_finite else ["parameters"])


def _all_finite(tree):
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)]))


def run_experiment(config, algorithm: Algorithm, env, network):
  """Trains `algorithm` for `config.num_iterations`, resuming from the workdir if it has a checkpoint.

  `env` holds the held-out instances (evaluation, baselines, renders); `algorithm` collects on its
  own environment, which differs only under `--train_num_items`.

  Returns the metrics records of the whole run (earlier runs of the workdir included).
  """
  from tqdm import tqdm

  devices = all_devices()
  primary = distributed.is_primary()
  config_lib.validate_for_devices(config, len(devices))
  memory.check_fits(config, env, devices)
  workdir = workdir_lib.prepare_workdir(config.workdir)
  if (workdir / "config.json").exists():
    workdir_lib.check_resumable(workdir_lib.load_config(workdir / "config.json"), config)
  metrics_path = workdir / "metrics.jsonl"
  checkpointer = Checkpointer(workdir / "checkpoints", max_to_keep=config.keep_checkpoints)

  key, init_key = jax.random.split(jax.random.PRNGKey(config.seed))
  device_state = replicate(algorithm.init(init_key), devices)
  counters = {"iteration": 0, "wall_clock_s": 0.0, "env_steps": 0, "search_decisions": 0}
  # Every process reads the records (the workdir is shared) and so picks the same checkpoint: a
  # deletion waits for all of them, and records cut back to that checkpoint (below) still pick it.
  iteration, payload = checkpointer.restore_newest_readable(
      checkpoint_payload(device_state, key, counters, devices), workdir_lib.recorded_through(metrics_path))
  if payload is not None:
    device_state = device_state_of(payload, devices)
    key = jnp.asarray(payload["key"])
    counters = {name: payload[name].item() for name in COUNTERS}
    if primary:
      print(f"Resuming {workdir} from iteration {counters['iteration']}.")
  # The run has initialised: from here on the workdir describes it.
  if primary:
    workdir_lib.keep_metrics_through(metrics_path, counters["iteration"])
    workdir_lib.write_json(workdir / "config.json", dataclasses.asdict(config))

  def update_and_check(state, batch, update_key):
    state, metrics = algorithm.update(state, batch, update_key)
    return state, metrics, _all_finite(state.params)

  collect = jax.pmap(algorithm.collect, axis_name=AXIS_NAME, devices=devices)
  update = jax.pmap(update_and_check, axis_name=AXIS_NAME, devices=devices)
  evaluator = Evaluator(config, env, network, devices, progress=config.progress and primary)
  baselines = None
  if primary and (workdir / "baselines.json").exists():
    baselines = workdir_lib.read_json(workdir / "baselines.json", "baselines.json")
  records = workdir_lib.read_metrics(metrics_path) if primary else []
  scalars = ScalarWriter(workdir / "tensorboard") if config.tensorboard and primary else None

  progress = tqdm(total=config.num_iterations, initial=counters["iteration"], unit="it",
                  disable=not (config.progress and primary), dynamic_ncols=True)
  with stop_requests() as stop:
    for iteration in range(counters["iteration"] + 1, config.num_iterations + 1):
      key, collect_key, update_key = jax.random.split(key, 3)
      start = time.perf_counter()
      batch, collect_metrics = collect(device_state, per_device_keys(collect_key, devices))
      collect_metrics = jax.device_get(unreplicate(collect_metrics))
      collect_s = time.perf_counter() - start
      device_state, update_metrics, params_finite = update(
          device_state, batch, per_device_keys(update_key, devices))
      update_metrics = jax.device_get(unreplicate(update_metrics))
      iteration_s = time.perf_counter() - start

      env_steps = int(collect_metrics.pop("env_steps"))
      search_decisions = int(collect_metrics.pop("search_decisions", 0))
      learned = {name: float(value) for name, value in {**collect_metrics, **update_metrics}.items()}
      faults = non_finite_quantities(learned, bool(unreplicate(params_finite)))
      if faults:
        progress.close()
        raise NonFiniteError(iteration, faults)
      counters = {"iteration": iteration, "wall_clock_s": counters["wall_clock_s"] + iteration_s,
                  "env_steps": counters["env_steps"] + env_steps,
                  "search_decisions": counters["search_decisions"] + search_decisions}
      record = {"iteration": iteration, "wall_clock_s": counters["wall_clock_s"],
                "env_steps": counters["env_steps"], "decisions_per_s": env_steps / collect_s,
                "collect_s": collect_s, "update_s": iteration_s - collect_s}
      if search_decisions:
        record["search_decisions"] = counters["search_decisions"]
      record.update(learned)

      evaluate_now = iteration % config.eval_interval == 0 or iteration == config.num_iterations
      if evaluate_now:
        start = time.perf_counter()
        record.update(evaluator(device_state.params))
        if baselines is None and primary:
          baselines = write_baselines(config, env, workdir / "baselines.json",
                                      evaluator.instance_keys, evaluator.policy_key)
        record["eval_s"] = time.perf_counter() - start
      records.append(record)
      if primary:  # on the disk before the checkpoint below: a checkpoint never outlives its record
        workdir_lib.append_metrics(metrics_path, record)
        if scalars is not None:
          scalars.write(record)
        if evaluate_now:
          reports.plot_learning_curve(records, baselines, workdir / "learning_curve.png")
      stop_signal = distributed.any_process(stop.signal_number)
      save_now = iteration % config.save_interval == 0 or iteration == config.num_iterations
      if save_now or stop_signal is not None:
        checkpointer.save(iteration, checkpoint_payload(device_state, key, counters, devices))

      progress.update(1)
      progress.set_postfix(_progress_postfix(record, records), refresh=True)
      if stop_signal is not None and iteration < config.num_iterations:
        progress.close()
        raise Interrupted(stop_signal, iteration, str(workdir))
  progress.close()
  if scalars is not None:
    scalars.close()

  if not primary:
    return records
  final_eval = next((r for r in reversed(records) if "eval_greedy_utilization" in r), None)
  params = unreplicate(device_state).params
  if config.num_renders > 0:
    render_keys = evaluator.instance_keys[:config.num_renders]
    reports.render_greedy_instances(env, network, params, render_keys, workdir / "renders",
                                    progress=config.progress)
  if final_eval is not None:
    print(f"\nHeld-out instances: {config.eval_num_episodes} (eval_seed {config.eval_seed}); "
          f"{counters['iteration']} iterations, {counters['wall_clock_s']:.0f} s training, "
          f"{counters['env_steps']} env steps.")
    print(reports.format_final_table(final_eval, baselines, config.eval_num_simulations))
    overflowed = {"greedy network": final_eval.get("eval_greedy_overflowed_episodes", 0),
                  "network + search": final_eval.get("eval_search_overflowed_episodes", 0),
                  **{name: row.get("overflowed_episodes", 0) for name, row in (baselines or {}).items()}}
    warn_of_overflows(config, overflowed, config.eval_num_episodes)
  return records


def _progress_postfix(record, records):
  postfix = {"return": f"{record['rollout_return']:.3f}", "dec/s": f"{record['decisions_per_s']:.0f}"}
  last_eval = next((r for r in reversed(records) if "eval_greedy_utilization" in r), None)
  if last_eval is not None:
    postfix["greedy"] = f"{last_eval['eval_greedy_utilization']:.3f}"
    postfix["search"] = f"{last_eval['eval_search_utilization']:.3f}"
  return postfix
