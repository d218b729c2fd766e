"""The modes that measure or show trained runs: `eval`, `render`, `baselines`, `compare`.

`eval`, `render` and `baselines` say, in a warning line on stderr, how many episodes of each policy
lost EMSs to full slots (`purepi.evaluation.protocol.warn_of_overflows`); the baselines table counts them too.
"""
from pathlib import Path

import jax

from purepi import config as config_lib
from purepi.cli import settings
from purepi.devices import replicate
from purepi.errors import UsageError
from purepi.evaluation import baselines as baselines_lib
from purepi.evaluation import compare, reports, scaling
from purepi.evaluation.evaluator import Evaluator
from purepi.env.make import make_env
from purepi.evaluation.protocol import first_state_values, held_out_keys, summarize, warn_of_overflows
from purepi.networks import make_network
from purepi.training.trained_networks import load_params


def _load_for_evaluation(config):
  """(settings, env, network, params) of the trained run of `--checkpoint` (else the workdir's).

  The network and its action space are the trained run's; every other setting the mode reads
  is `config`'s (`purepi.cli.settings`: the command line gives what differs from the run).
  """
  params, trained = load_params(config.checkpoint or config.workdir)
  run_config = settings.for_trained_run(config, trained, settings.FROM_THE_TRAINED_RUN_UNLESS_GIVEN[config.mode])
  return run_config, make_env(run_config), make_network(run_config), params


def eval_main(config):
  """`--mode=eval`: greedy and search utilization of a checkpoint beside the heuristics, and what its
  value head predicts at the first state (the utilization search reaches is what it learns)."""
  run_config, env, network, params = _load_for_evaluation(config)
  devices = jax.local_devices()
  config_lib.validate_for_devices(run_config, len(devices))
  evaluator = Evaluator(run_config, env, network, devices, progress=config.progress)
  record = evaluator(replicate(params, devices))
  baselines = baselines_lib.baseline_table(env, evaluator.instance_keys, evaluator.policy_key,
                                           progress=config.progress)
  print(f"Held-out instances: {run_config.eval_num_episodes} (eval_seed {run_config.eval_seed}); "
        f"checkpoint {config.checkpoint or config.workdir}.")
  print(reports.format_final_table(record, baselines, run_config.eval_num_simulations))
  values = jax.jit(lambda params, keys: first_state_values(env, network, params, keys))(
      params, evaluator.instance_keys)
  print(f"Value head at the first state: {float(values.mean()):.4f} on average (search reached "
        f"{record['eval_search_utilization']:.4f}).")
  warn_of_overflows(run_config, {
      "greedy network": record["eval_greedy_overflowed_episodes"],
      "network + search": record["eval_search_overflowed_episodes"],
      **{name: summary["overflowed_episodes"] for name, summary in baselines.items()}},
      run_config.eval_num_episodes)


def render_main(config):
  """`--mode=render`: `num_renders` held-out instances packed by the greedy network, each as a PNG
  and as its load plan's interactive page (`plan.html`'s kind).

  With `--csv_path` there is one instance, the CSV's (`--mode=pack` gives its full load plan).
  """
  run_config, env, network, params = _load_for_evaluation(config)
  instance_keys, _ = held_out_keys(run_config)
  num_instances = 1 if run_config.csv_path else run_config.num_renders
  paths, overflowed = reports.render_greedy_instances(
      env, network, params, instance_keys[:num_instances], Path(config.workdir) / "renders",
      progress=config.progress, pages=True)
  for path in paths:
    print(path)
  warn_of_overflows(run_config, {"greedy network": overflowed}, num_instances)


def baselines_main(config):
  """`--mode=baselines`: every heuristic on the held-out instances (`eval_seed`, `eval_num_episodes`)."""
  env = make_env(config)
  instance_keys, policy_key = held_out_keys(config)
  results = baselines_lib.evaluate_heuristics(env, instance_keys, policy_key, progress=config.progress)
  print(f"Held-out instances: {config.eval_num_episodes} (eval_seed {config.eval_seed})"
        + (f", {config.csv_path}" if config.csv_path else "")
        + f"; {config.max_num_items} items, {config.max_num_ems} EMS slots, {config.obs_num_ems} observed")
  print(baselines_lib.format_table(results))
  warn_of_overflows(config, {name: summarize(result["outcome"])["overflowed_episodes"]
                              for name, result in results.items()}, config.eval_num_episodes)


def compare_main(config):
  """`--mode=compare`: writes comparison.png and comparison.md into `config.workdir`."""
  if not config.workdirs:
    raise UsageError("--mode=compare needs --workdirs=DIR[,DIR...]")
  markdown, plot_path, table_path = compare.write_comparison(config.workdirs, config.workdir,
                                                             progress=config.progress)
  print(markdown)
  print(f"wrote {plot_path} and {table_path}")
  budget_paths = scaling.write_budgets(config.workdirs, config.workdir)
  if budget_paths:
    print(f"wrote {' and '.join(budget_paths)}: each method against its training budget")
