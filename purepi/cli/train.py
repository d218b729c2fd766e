"""`--mode=distill` and `--mode=ppo`: build the environment, network and trainer, then run the loop."""
from purepi.agents import distill, ppo
from purepi.evaluation.protocol import make_env
from purepi.networks import make_network
from purepi.training.loop import run_experiment

# mode -> the trainer's `make_algorithm(config, env, network)`.
ALGORITHMS = {"distill": distill.make_algorithm, "ppo": ppo.make_algorithm}


def main(config):
  """Trains `config.mode`'s method, evaluates, checkpoints and reports in `config.workdir`."""
  env = make_env(config)
  network = make_network(config)
  algorithm = ALGORITHMS[config.mode](config, env, network)
  return run_experiment(config, algorithm, env, network)
