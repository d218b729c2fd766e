"""Names live where the references keep them: code that imports a name from a module finds it there.

mctx's and Jumanji's own tests import from their modules (and call a few private helpers by name):
they run on purepi by changing the import, which needs each name in the twin module, not only
somewhere in the package (`test_api_surface.py` checks that).
"""
import ast
import importlib
import inspect

import jax.numpy as jnp
import mctx
import numpy as np
import pytest

from third_party_parity.test_api_surface import LEFT_OUT, public_names

# Each reference module and its twin in purepi: a name lives in the same module in both, so that
# code (the references' own tests among it) importing a name from a module finds it there.
MODULE_TWINS = [
    ("mctx._src.base", "purepi.search.base"),
    ("mctx._src.tree", "purepi.search.tree"),
    ("mctx._src.search", "purepi.search.search"),
    ("mctx._src.action_selection", "purepi.search.action_selection"),
    ("mctx._src.seq_halving", "purepi.search.seq_halving"),
    ("mctx._src.qtransforms", "purepi.search.qtransforms"),
    ("mctx._src.policies", "purepi.search.policies"),
    ("jumanji.environments.packing.bin_pack.env", "purepi.env.env"),
    ("jumanji.environments.packing.bin_pack.types", "purepi.env.types"),
    ("jumanji.environments.packing.bin_pack.generator", "purepi.env.generator"),
    ("jumanji.environments.packing.bin_pack.reward", "purepi.env.reward"),
    ("jumanji.environments.packing.bin_pack.space", "purepi.env.space"),
    ("jumanji.environments.packing.bin_pack.viewer", "purepi.env.viewer"),
]
# Private helpers the references' own tests call, in the module they call them from.
PRIVATE_NAMES_THEIR_TESTS_CALL = {
    "mctx._src.policies": ("_apply_temperature", "_mask_invalid_actions"),
    "mctx._src.qtransforms": ("_compute_mixed_value",),
}
# Public names purepi places in another module than the reference does, with where and why.
PLACED_ELSEWHERE = {
    ("mctx._src.policies", "stochastic_muzero_policy"): (
        "purepi.search.stochastic_muzero", "one module per policy family; it imports policies.py's "
        "noisy root prior and visit sampler, so policies.py cannot import it back"),
}


def _exported_from(module_name):
  """The names that live in the reference module `module_name`: for mctx those its package exports,
  for Jumanji the public classes, functions and constants the module itself defines."""
  module = importlib.import_module(module_name)
  if module_name.startswith("mctx."):
    return {name for name in mctx.__all__ if getattr(getattr(mctx, name), "__module__", "") == module_name}
  assigned = {target.id for node in ast.parse(inspect.getsource(module)).body if isinstance(node, ast.Assign)
              for target in node.targets if isinstance(target, ast.Name)}
  return {name for name in public_names(module)
          if getattr(getattr(module, name), "__module__", None) == module_name
          or (name.isupper() and name in assigned)}


@pytest.mark.parametrize("reference,ours", MODULE_TWINS, ids=[pair[0] for pair in MODULE_TWINS])
def test_every_reference_name_lives_in_the_twin_module(reference, ours):
  expected = _exported_from(reference) | set(PRIVATE_NAMES_THEIR_TESTS_CALL.get(reference, ()))
  placed_elsewhere = {name for module, name in PLACED_ELSEWHERE if module == reference}
  missing = sorted(expected - set(dir(importlib.import_module(ours))) - set(LEFT_OUT) - placed_elsewhere)
  assert not missing, f"{ours} lacks {reference}'s {missing}"
  for (module, name), (where, _) in PLACED_ELSEWHERE.items():
    if module == reference:
      assert hasattr(importlib.import_module(where), name), f"{where} lacks {name}"


def test_the_private_helpers_their_tests_call_are_purepis_own_functions():
  from purepi.masking import mask_invalid_actions
  from purepi.search import policies, qtransforms
  assert policies._apply_temperature is policies.apply_temperature
  assert policies._mask_invalid_actions is mask_invalid_actions
  assert qtransforms._compute_mixed_value is qtransforms.compute_mixed_value
  logits = jnp.array([[1.0, 2.0, 3.0]])
  invalid = jnp.array([[False, True, False]])
  np.testing.assert_array_equal(policies._mask_invalid_actions(logits, invalid),
                                mctx._src.policies._mask_invalid_actions(logits, invalid))
  np.testing.assert_allclose(policies._apply_temperature(logits, 0.5),
                             mctx._src.policies._apply_temperature(logits, 0.5), rtol=1e-6)
