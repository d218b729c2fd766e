"""Code written against mctx 0.0.71 or Jumanji 1.1.2's BinPack runs on purepi by changing the import.

Two kinds of check:
- names: every public name of the reference modules purepi mirrors, and every
  public member of their classes, exists in purepi, unless listed in
  `LEFT_OUT` with the reason. A new gap fails here. `test_module_placement.py`
  checks that each lives in the same module as in the reference.
- behaviour of the members that episodes and searches do not reach (the
  parity of episodes and trees is in `test_env_parity.py`,
  `test_search_parity.py` and `test_stochastic_parity.py`): specs, the debug
  extra, `Space`'s axis helpers and hyperplanes, and `save_instance_to_csv`.
"""
import inspect

import jax
import jax.numpy as jnp
import mctx
import numpy as np
import pytest
from jumanji.environments.packing import bin_pack as jumanji_bin_pack
from jumanji.environments.packing.bin_pack import env as jumanji_env
from jumanji.environments.packing.bin_pack import generator as jumanji_generator
from jumanji.environments.packing.bin_pack import reward as jumanji_reward
from jumanji.environments.packing.bin_pack import space as jumanji_space
from jumanji.environments.packing.bin_pack import types as jumanji_types
from jumanji.environments.packing.bin_pack import viewer as jumanji_viewer

import purepi.env as purepi_env
import purepi.search
from purepi.env import env as purepi_env_module
from third_party_parity.comparison import assert_same

# Reference names purepi deliberately does not provide, with the reason.
LEFT_OUT = {
    "BinPackViewer": "purepi draws with the functions of purepi.env.viewer (render, animate), "
                     "reached through BinPack.render and BinPack.animate; it has no Jumanji "
                     "Viewer base class to subclass",
}
# The reference modules purepi mirrors, and where their names live in purepi.
MIRRORED_MODULES = [
    (mctx, purepi.search),
    (jumanji_bin_pack, purepi_env),
    (jumanji_env, purepi_env),
    (jumanji_types, purepi_env),
    (jumanji_generator, purepi_env),
    (jumanji_reward, purepi_env),
    (jumanji_space, purepi_env),
    (jumanji_viewer, purepi_env),
]


def public_names(module):
  """The public names a module defines or re-exports on purpose (its `__all__`, or what is
  defined in it or in its own package: classes, functions and upper-case constants)."""
  if hasattr(module, "__all__"):
    return set(module.__all__)
  package = module.__name__.rsplit(".", 1)[0] if module.__name__.count(".") else module.__name__
  names = set()
  for name, value in vars(module).items():
    if name.startswith("_") or inspect.ismodule(value):
      continue
    defined_in = getattr(value, "__module__", None) or ""
    if (inspect.isclass(value) or inspect.isfunction(value)) and defined_in.startswith(package):
      names.add(name)
    elif name.isupper() and not isinstance(value, bool):  # constants, not typing.TYPE_CHECKING
      names.add(name)
  return names


@pytest.mark.parametrize("reference,ours", MIRRORED_MODULES, ids=lambda module: module.__name__)
def test_every_public_name_of_the_reference_exists(reference, ours):
  missing = sorted(public_names(reference) - set(dir(ours)) - set(LEFT_OUT))
  assert not missing, f"{ours.__name__} lacks {reference.__name__}'s {missing}"


def _public_members(cls):
  return {name for name in dir(cls) if not name.startswith("_")}


CLASS_PAIRS = [
    (jumanji_env.BinPack, purepi_env.BinPack),
    (jumanji_space.Space, purepi_env.Space),
    (jumanji_types.State, purepi_env.State),
    (jumanji_types.Observation, purepi_env.Observation),
    (jumanji_types.Item, purepi_env.Item),
    (jumanji_types.Location, purepi_env.Location),
    (jumanji_generator.Generator, purepi_env.Generator),
    (jumanji_generator.RandomGenerator, purepi_env.RandomGenerator),
    (jumanji_generator.ToyGenerator, purepi_env.ToyGenerator),
    (jumanji_generator.CSVGenerator, purepi_env.CSVGenerator),
    (jumanji_reward.DenseReward, purepi_env.DenseReward),
    (jumanji_reward.SparseReward, purepi_env.SparseReward),
    (mctx.Tree, purepi.search.Tree),
    (mctx.RootFnOutput, purepi.search.RootFnOutput),
    (mctx.RecurrentFnOutput, purepi.search.RecurrentFnOutput),
    (mctx.DecisionRecurrentFnOutput, purepi.search.DecisionRecurrentFnOutput),
    (mctx.ChanceRecurrentFnOutput, purepi.search.ChanceRecurrentFnOutput),
    (mctx.PolicyOutput, purepi.search.PolicyOutput),
    (mctx.GumbelMuZeroExtraData, purepi.search.GumbelMuZeroExtraData),
]


@pytest.mark.parametrize("reference,ours", CLASS_PAIRS, ids=lambda cls: cls.__qualname__)
def test_every_public_member_of_the_reference_classes_exists(reference, ours):
  missing = sorted(_public_members(reference) - _public_members(ours))
  assert not missing, f"{ours.__qualname__} lacks {missing}"


def test_instance_attributes_of_binpack():
  ours, theirs = purepi_env.BinPack(debug=True), jumanji_env.BinPack(debug=True)
  for name in ("generator", "obs_num_ems", "reward_fn", "normalize_dimensions", "debug"):
    assert hasattr(ours, name), name
    assert getattr(ours, name) == getattr(theirs, name) or name in ("generator", "reward_fn")
  assert ours.unwrapped is ours


def _spec_fields(spec):
  return (spec.name, spec.shape, np.dtype(spec.dtype), np.asarray(getattr(spec, "minimum", 0.0)),
          np.asarray(getattr(spec, "maximum", 0.0)))


@pytest.mark.slow
def test_reward_and_discount_specs():
  ours, theirs = purepi_env.BinPack(), jumanji_env.BinPack()
  for name in ("reward_spec", "discount_spec"):
    our_fields, their_fields = _spec_fields(getattr(ours, name)), _spec_fields(getattr(theirs, name))
    assert our_fields[:3] == their_fields[:3], name
    np.testing.assert_array_equal(our_fields[3], their_fields[3])
    np.testing.assert_array_equal(our_fields[4], their_fields[4])
  _, timestep = ours.reset(jax.random.PRNGKey(0))
  ours.reward_spec.validate(timestep.reward)
  ours.discount_spec.validate(timestep.discount)


def test_close_and_the_context_manager():
  with purepi_env.BinPack() as env:
    env.reset(jax.random.PRNGKey(0))
  assert env.close() is None


def _both_debug_envs():
  generator_kwargs = dict(max_num_items=8, max_num_ems=12, split_num_same_items=2)
  return (purepi_env.BinPack(purepi_env.RandomGenerator(**generator_kwargs), obs_num_ems=10, debug=True),
          jumanji_env.BinPack(jumanji_generator.RandomGenerator(**generator_kwargs), obs_num_ems=10,
                              debug=True))


@pytest.mark.slow
def test_debug_extra_matches_on_episodes():
  ours, theirs = _both_debug_envs()

  def episode(key):
    our_state, our_step = ours.reset(key)
    their_state, their_step = theirs.reset(key)
    flags = [(our_step.extras["invalid_ems_from_env"], their_step.extras["invalid_ems_from_env"])]
    for t in range(4):
      mask = our_step.observation.action_mask
      flat = jax.random.categorical(jax.random.fold_in(key, t), jnp.where(mask.reshape(-1), 0.0, -jnp.inf))
      action = jnp.stack([flat // mask.shape[1], flat % mask.shape[1]]).astype(jnp.int32)
      our_state, our_step = ours.step(our_state, action)
      their_state, their_step = theirs.step(their_state, action)
      flags.append((our_step.extras["invalid_ems_from_env"], their_step.extras["invalid_ems_from_env"]))
    return flags

  flags = jax.jit(jax.vmap(episode))(jax.random.split(jax.random.PRNGKey(5), 16))
  assert_same([ours for ours, _ in flags], [theirs for _, theirs in flags], "invalid_ems_from_env")
  assert not any(bool(jnp.any(ours)) for ours, _ in flags), "the dynamics produced an invalid EMS"


@pytest.mark.slow
def test_debug_check_flags_an_ems_that_overlaps_an_item_or_leaves_the_container():
  """The self-check can fail: the same corrupted states are flagged by both libraries."""
  ours, theirs = _both_debug_envs()
  key = jax.random.PRNGKey(2)
  our_state, our_step = ours.reset(key)
  their_state, _ = theirs.reset(key)
  action = jnp.stack(jnp.unravel_index(jnp.argmax(our_step.observation.action_mask),
                                       our_step.observation.action_mask.shape)).astype(jnp.int32)
  our_state, _ = ours.step(our_state, action)
  their_state, _ = theirs.step(their_state, action)
  placed = int(jnp.argmax(our_state.items_placed))
  corner = our_state.items_location
  inside_item = dict(x1=corner.x[placed], x2=corner.x[placed] + 1, y1=corner.y[placed],
                     y2=corner.y[placed] + 1, z1=corner.z[placed], z2=corner.z[placed] + 1)
  past_the_wall = dict(x1=0, x2=our_state.container.x2 + 1, y1=0, y2=1, z1=0, z2=1)
  for corrupt in (inside_item, past_the_wall):
    def corrupted(state):
      ems = state.ems.replace(**{name: getattr(state.ems, name).at[0].set(value)
                                 for name, value in corrupt.items()})
      return state.replace(ems=ems, ems_mask=state.ems_mask.at[0].set(True))
    our_valid = purepi_env_module._ems_are_all_valid(corrupted(our_state))
    their_valid = theirs._ems_are_all_valid(corrupted(their_state))
    assert not bool(our_valid) and not bool(their_valid)
  assert bool(purepi_env_module._ems_are_all_valid(our_state))
  assert bool(theirs._ems_are_all_valid(their_state))


def test_space_axis_values_and_hyperplanes():
  values = dict(x1=1, x2=4, y1=2, y2=7, z1=0, z2=3)
  ours, theirs = purepi_env.Space(**values), jumanji_space.Space(**values)
  for axis in "xyz":
    for index in (1, 2):
      assert ours.get_axis_value(axis, index) == theirs.get_axis_value(axis, index)
    for direction in ("lower", "upper"):
      assert_same(dict(ours.hyperplane(axis, direction).items()),
                  dict(theirs.hyperplane(axis, direction).items()), f"{axis}_{direction}")
  ours.set_axis_value("y", 2, 9)
  theirs.set_axis_value("y", 2, 9)
  assert dict(ours.items()) == dict(theirs.items())
  with pytest.raises(ValueError, match="axis"):
    ours.hyperplane("w", "lower")
  with pytest.raises(ValueError, match="index"):
    ours.get_axis_value("x", 3)


@pytest.mark.parametrize("generator_name", ["RandomGenerator", "ToyGenerator"])
@pytest.mark.slow
def test_save_instance_to_csv_reads_back_through_both_csv_generators(generator_name, tmp_path):
  # split_num_same_items is given: its default is 2 in purepi (the BinPack-v2 setting) and 5 in Jumanji.
  kwargs = (dict(max_num_items=20, max_num_ems=40, split_num_same_items=2)
            if generator_name == "RandomGenerator" else {})
  state = getattr(purepi_env, generator_name)(**kwargs)(jax.random.PRNGKey(3))
  our_path, their_path = tmp_path / "ours.csv", tmp_path / "theirs.csv"
  purepi_env.save_instance_to_csv(state, str(our_path))
  their_state = getattr(jumanji_generator, generator_name)(**kwargs)(jax.random.PRNGKey(3))
  jumanji_generator.save_instance_to_csv(their_state, str(their_path))
  # The same rows as the reference writes (it ends lines with \r\n, purepi with \n).
  assert our_path.read_text().splitlines() == their_path.read_text().splitlines()
  max_num_items = int(state.items_mask.shape[0])
  read_by_ours = purepi_env.CSVGenerator(str(our_path), max_num_ems=40)(jax.random.PRNGKey(0))
  read_by_theirs = jumanji_generator.CSVGenerator(str(our_path), max_num_ems=40)(jax.random.PRNGKey(0))
  assert_same(read_by_ours, read_by_theirs, "csv instance")
  # And the instance holds the original items (as a multiset: rows are grouped by shape).
  def item_multiset(items, mask):
    lengths = np.stack([np.asarray(items.x_len), np.asarray(items.y_len), np.asarray(items.z_len)], -1)
    return sorted(map(tuple, lengths[np.asarray(mask)].tolist()))
  assert item_multiset(read_by_ours.items, read_by_ours.items_mask) == item_multiset(
      state.items, state.items_mask & jnp.all(jnp.stack(state.items) > 0, axis=0))
  assert max_num_items >= int(read_by_ours.items_mask.sum())
