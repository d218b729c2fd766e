"""Each heuristic plays the same instances to the same utilizations on purepi.env and on Jumanji's BinPack."""
import jax
import numpy as np
import pytest
from jumanji.environments.packing.bin_pack import env as jumanji_env

from purepi import env as purepi_env
from purepi.evaluation.protocol import evaluate_policy
from purepi.policies import heuristics
from third_party_parity.comparison import ENV_FLOAT_TOLERANCE

# Jumanji's own EMS update writes float32 into int32 arrays, which JAX flags.
# The fast tier leaves this file out (README, "Tests").
pytestmark = [pytest.mark.filterwarnings("ignore:scatter inputs have incompatible types:FutureWarning"),
              pytest.mark.slow]

NUM_INSTANCES = 64


@pytest.mark.parametrize("name", list(heuristics.HEURISTICS))
def test_heuristic_utilizations_match_jumanji(name):
  policy_fn = heuristics.HEURISTICS[name]
  instance_keys = jax.random.split(jax.random.PRNGKey(2024), NUM_INSTANCES)
  policy_key = jax.random.PRNGKey(7)
  outcomes = {}
  for label, env in (("purepi", purepi_env.BinPack()), ("jumanji", jumanji_env.BinPack())):
    evaluate = jax.jit(lambda keys, key, env=env: evaluate_policy(env, policy_fn, keys, key))
    outcomes[label] = jax.device_get(evaluate(instance_keys, policy_key))
  # The same utilization quotient, compiled into different fusions (comparison.ENV_FLOAT_TOLERANCE).
  np.testing.assert_allclose(outcomes["purepi"].utilization, outcomes["jumanji"].utilization,
                             rtol=0, atol=ENV_FLOAT_TOLERANCE)
  np.testing.assert_array_equal(outcomes["purepi"].items_placed, outcomes["jumanji"].items_placed)
  np.testing.assert_array_equal(outcomes["purepi"].num_items, outcomes["jumanji"].num_items)
  # Not a vacuous match: the heuristic really packed something.
  assert outcomes["purepi"].utilization.mean() > 0.4
