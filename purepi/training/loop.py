"""The training loop every trainer shares (search distillation, PPO).

`run_experiment` takes an `Algorithm` (`purepi.training.algorithm`) and does
the rest, identically for every method:

  - pmap of `collect` and `update` over all local devices (`devices.AXIS_NAME`);
  - the workdir (README, "Results"): config.json, metrics.jsonl,
    baselines.json, learning_curve.png, checkpoints/, renders/;
  - orbax checkpoints (params, optimiser state, RNG key, counters) and resume
    from the latest one on the same RNG stream;
  - evaluation on the fixed held-out instances, greedy and with search;
  - a progress bar, and the final table beside the heuristics.
"""
import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Dict

import jax
import jax.numpy as jnp

from purepi import config as config_lib
from purepi.evaluation import baselines as baselines_lib
from purepi.evaluation import reports
from purepi.evaluation.evaluator import Evaluator
from purepi.training import workdir as workdir_lib
from purepi.training.algorithm import Algorithm, TrainState
from purepi.training.checkpoints import COUNTERS, Checkpointer, checkpoint_payload
from purepi.training.devices import AXIS_NAME, replicate, unreplicate


def write_baselines(config, env, path: Path, instance_keys, policy_key) -> Dict[str, Any]:
  """The heuristics on the held-out instances, measured once per workdir."""
  if path.exists():
    return json.loads(path.read_text())
  table = baselines_lib.baseline_table(env, instance_keys, policy_key)
  table = {name: {key: float(value) for key, value in row.items()} for name, row in table.items()}
  workdir_lib.write_json(path, table)
  return table


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
    workdir_lib.check_resumable(workdir_lib.load_config(workdir / "config.json"), config)
  workdir_lib.write_json(workdir / "config.json", dataclasses.asdict(config))
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
    workdir_lib.drop_metrics_after(metrics_path, counters["iteration"])
    print(f"Resuming {workdir} from iteration {counters['iteration']}.")

  collect = jax.pmap(algorithm.collect, axis_name=AXIS_NAME, devices=devices)
  update = jax.pmap(algorithm.update, axis_name=AXIS_NAME, devices=devices)
  evaluator = Evaluator(config, env, network, devices)
  replicated_state = replicate(train_state, devices)
  baselines = None
  if (workdir / "baselines.json").exists():
    baselines = json.loads((workdir / "baselines.json").read_text())
  records = workdir_lib.read_metrics(metrics_path)

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
    workdir_lib.append_metrics(metrics_path, record)
    records.append(record)
    if evaluate_now:
      reports.plot_learning_curve(records, baselines, workdir / "learning_curve.png")
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
    reports.render_greedy_instances(env, network, params, render_keys, workdir / "renders")
  if final_eval is not None:
    print(f"\nHeld-out instances: {config.eval_num_episodes} (eval_seed {config.eval_seed}); "
          f"{counters['iteration']} iterations, {counters['wall_clock_s']:.0f} s training, "
          f"{counters['env_steps']} env steps.")
    print(reports.format_final_table(final_eval, baselines, config.eval_num_simulations))
  return records
