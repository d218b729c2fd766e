"""`--mode=distill` and `--mode=ppo`: build the environment, network and trainer, then run the loop.

With `--num_seeds=N` the same run is trained for seeds `seed, ..., seed + N - 1`, one after the
other, each in its own `WORKDIR/seed_<seed>` (each resumable on its own); then
`WORKDIR/comparison.md` and `comparison.png` report the mean over seeds with its 95% t-interval.

With `--coordinator_address` the same command runs in every process of a
multi-process run, joined by `run` (`purepi.cli.app`) before JAX starts;
process 0 writes the files.
"""
import dataclasses
from pathlib import Path

from purepi.agents import distill, ppo
from purepi.errors import UsageError, write_failure
from purepi.evaluation import compare
from purepi.env.make import make_env
from purepi.networks import make_network
from purepi.training import checkpoints, distributed
from purepi.training.loop import run_experiment

# mode -> the trainer's `make_algorithm(config, env, network)`.
ALGORITHMS = {"distill": distill.make_algorithm, "ppo": ppo.make_algorithm}


def train_one_seed(config):
  """Trains `config.mode`'s method, evaluates, checkpoints and reports in `config.workdir`.

  A file that cannot be written (full disk, read-only directory) stops the run with a
  `WriteError` that names the newest complete checkpoint, from which the same command resumes.
  """
  network = make_network(config)
  algorithm = ALGORITHMS[config.mode](config, make_env(config, training=True), network)
  try:
    return run_experiment(config, algorithm, make_env(config), network)
  except Exception as error:
    failure = write_failure(error)
    if failure is None:
      raise
    raise failure.stopped(checkpoints.resume_note(config.workdir)) from None


def seed_workdir(workdir, seed: int) -> str:
  return str(Path(workdir) / f"seed_{seed}")


def main(config):
  """Trains one seed in `config.workdir`, or `num_seeds` seeds in its `seed_*` subdirectories."""
  workdir = Path(config.workdir)
  has_seed_runs = workdir.is_dir() and any(path.name.startswith("seed_") for path in workdir.iterdir())
  if config.num_seeds == 1:
    if has_seed_runs:
      raise UsageError(f"--workdir={config.workdir} holds per-seed runs (seed_*): pass --num_seeds, "
                       "or choose another --workdir")
    return train_one_seed(config)
  if (workdir / "metrics.jsonl").exists():
    raise UsageError(f"--workdir={config.workdir} holds a single-seed run: --num_seeds needs another "
                     "--workdir")
  seeds = range(config.seed, config.seed + config.num_seeds)
  for seed in seeds:
    print(f"\n=== seed {seed} ({seed - config.seed + 1} of {config.num_seeds}) ===")
    train_one_seed(dataclasses.replace(config, seed=seed, num_seeds=1,
                                       workdir=seed_workdir(config.workdir, seed)))
  if not distributed.is_primary():
    return
  markdown, plot_path, table_path = compare.write_comparison(
      [seed_workdir(config.workdir, seed) for seed in seeds], config.workdir)
  print("\n" + markdown)
  print(f"wrote {plot_path} and {table_path}")
