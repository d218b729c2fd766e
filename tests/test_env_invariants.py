"""Properties of purepi.env that hold on any instance and any action sequence.

Hypothesis draws seeds, a scenario (random valid actions, an invalid action,
or the instance's perfect packing) and action choices; each environment
configuration is jitted once (module-scoped) and every example runs through
that one compiled function, then numpy checks every step of the episode. Each
scenario asserts that it reached its rare path (an invalid action; a full
container; no valid action left), and `event` reports how often each happened.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

import purepi.env as purepi_env
from purepi.planner import OBSERVED_EMS_PER_ITEM, ems_slots

CONFIGS = {
    "default": dict(max_num_items=20, max_num_ems=40, obs_num_ems=40),
    # Few EMS slots and a partial observation: the EMS buffer overflows.
    "few_slots": dict(max_num_items=10, max_num_ems=8, obs_num_ems=6),
}
# How the actions of an episode are chosen; each scenario reaches paths the others rarely do.
RANDOM_VALID = 0  # the `choices[t]`-th valid action: partial packings that end with no action valid
INVALID = 1  # random valid actions, then an invalid one at `invalid_step`: the episode must end unchanged
SOLUTION = 2  # the items in the order and places of `generate_solution`: a full container
SCENARIOS = {"random_valid": RANDOM_VALID, "invalid": INVALID, "solution": SOLUTION}


def make_env(config):
  generator = purepi_env.RandomGenerator(config["max_num_items"], config["max_num_ems"], split_num_same_items=2)
  return purepi_env.BinPack(generator, obs_num_ems=config["obs_num_ems"], normalize_dimensions=False)


def episode_runner(env):
  """jit(seed, scenario, choices [T], invalid_step) -> first (state, timestep), per-step (state, timestep, action).

  The action of step t follows `scenario` (see SCENARIOS above).
  """
  num_steps = env.generator.max_num_items + 2

  def run(seed, scenario, choices, invalid_step):
    key = jax.random.PRNGKey(seed)
    state, timestep = env.reset(key)
    solution = env.generator.generate_solution(key)
    where = solution.items_location
    # Placing items in lexicographic (x, y, z) order of their corners, each corner
    # is then the corner of an EMS: the room below, left and behind it is filled.
    unused = jnp.iinfo(jnp.int32).max
    order = jnp.lexsort(tuple(jnp.where(solution.items_mask, coord, unused) for coord in (where.z, where.y, where.x)))

    def step(carry, inputs):
      state, _ = carry
      t, choice = inputs
      flat_mask = state.action_mask.reshape(-1)
      valid_rank = jnp.cumsum(flat_mask) - 1
      nth_valid = jnp.argmax(flat_mask & (valid_rank == choice % jnp.maximum(jnp.sum(flat_mask), 1)))
      item = order[jnp.minimum(t, len(order) - 1)]
      shown = state.sorted_ems_indexes[:env.obs_num_ems]
      at_corner = ((state.ems.x1[shown] == where.x[item]) & (state.ems.y1[shown] == where.y[item])
                   & (state.ems.z1[shown] == where.z[item]))
      solution_flat = jnp.argmax(at_corner & state.action_mask[:, item]) * state.action_mask.shape[1] + item
      flat = jnp.where(scenario == SOLUTION, solution_flat,
                       jnp.where((scenario == INVALID) & (t == invalid_step), jnp.argmin(flat_mask), nth_valid))
      action = jnp.stack([flat // state.action_mask.shape[1], flat % state.action_mask.shape[1]]).astype(jnp.int32)
      next_state, next_timestep = env.step(state, action)
      return (next_state, next_timestep), (next_state, next_timestep, action)

    _, steps = jax.lax.scan(step, (state, timestep), (jnp.arange(num_steps), choices))
    return (state, timestep), steps

  return jax.jit(run), num_steps


@pytest.fixture(scope="module", params=list(CONFIGS))
def runner(request):
  env = make_env(CONFIGS[request.param])
  run, num_steps = episode_runner(env)
  return env, run, num_steps


def boxes(space):
  """[N, 3] lower and upper corners as int64 arrays."""
  lower = np.stack([np.asarray(space.x1), np.asarray(space.y1), np.asarray(space.z1)], -1).astype(np.int64)
  upper = np.stack([np.asarray(space.x2), np.asarray(space.y2), np.asarray(space.z2)], -1).astype(np.int64)
  return lower, upper


def overlaps(lower_a, upper_a, lower_b, upper_b):
  """[A, B]: the boxes share volume."""
  return np.all((np.maximum(lower_a[:, None], lower_b[None]) < np.minimum(upper_a[:, None], upper_b[None])), -1)


def inside(lower_a, upper_a, lower_b, upper_b):
  """[A, B]: box a lies inside box b."""
  return np.all((lower_a[:, None] >= lower_b[None]) & (upper_a[:, None] <= upper_b[None]), -1)


def check_geometry(state):
  """Placed items and EMSs are consistent boxes; returns the volume utilization."""
  container_lower, container_upper = (corner[0] for corner in boxes(jax.tree.map(lambda c: np.reshape(c, 1), state.container)))
  item_lengths = np.stack([np.asarray(length) for length in state.items], -1).astype(np.int64)
  placed = np.asarray(state.items_placed)
  location = np.stack([np.asarray(c) for c in state.items_location], -1).astype(np.int64)
  item_lower, item_upper = location[placed], location[placed] + item_lengths[placed]

  # Placed items lie in the container and never overlap.
  assert np.all(item_lower >= container_lower) and np.all(item_upper <= container_upper)
  item_overlap = overlaps(item_lower, item_upper, item_lower, item_upper)
  assert not np.any(item_overlap & ~np.eye(len(item_lower), dtype=bool)), "placed items overlap"

  # Every EMS is empty, lies in the container, and is not strictly inside another EMS.
  ems_lower, ems_upper = boxes(state.ems)
  ems_mask = np.asarray(state.ems_mask)
  ems_lower, ems_upper = ems_lower[ems_mask], ems_upper[ems_mask]
  assert np.all(ems_lower < ems_upper), "an EMS is empty"
  assert np.all(ems_lower >= container_lower) and np.all(ems_upper <= container_upper)
  assert not np.any(overlaps(ems_lower, ems_upper, item_lower, item_upper)), "an EMS overlaps a placed item"
  ems_inside = inside(ems_lower, ems_upper, ems_lower, ems_upper)
  assert not np.any(ems_inside & ~ems_inside.T), "an EMS lies strictly inside another"
  return np.prod(item_lengths[placed], -1).sum() / np.prod(container_upper - container_lower)


def expected_action_mask(state, obs_num_ems, min_support=0.0, permutations=None):
  """numpy: item i exists, is unplaced, fits in observed EMS o and (with min_support) rests on
  enough of its base there; `[O, I]`, or `[O, I, R]` turned by each of `permutations`."""
  lengths = np.stack([np.asarray(length) for length in state.items], -1).astype(np.int64)
  shown = np.asarray(state.sorted_ems_indexes)[:obs_num_ems]
  obs_lower, obs_upper = (corner[shown] for corner in boxes(state.ems))
  available = np.asarray(state.ems_mask)[shown][:, None] & (np.asarray(state.items_mask) & ~np.asarray(state.items_placed))[None]
  masks = []
  for permutation in permutations or [(0, 1, 2)]:
    turned = lengths[:, list(permutation)]
    mask = np.all(turned[None] <= (obs_upper - obs_lower)[:, None], -1) & available
    if min_support > 0:
      mask &= support_fractions(state, obs_num_ems, turned) >= min_support  # min_support 0.5 or 1: exact
    masks.append(mask)
  return masks[0] if permutations is None else np.stack(masks, -1)


def check_state(state, obs_num_ems, min_support=0.0):
  utilization = check_geometry(state)
  np.testing.assert_array_equal(np.asarray(state.action_mask), expected_action_mask(state, obs_num_ems, min_support))
  return utilization


EPISODES = dict(seed=st.integers(0, 2**31 - 1), scenario=st.sampled_from(list(SCENARIOS)),
                choice_seed=st.integers(0, 2**31 - 1), invalid_step=st.integers(0, 3))


@given(**EPISODES)
def test_episode_invariants(runner, seed, scenario, choice_seed, invalid_step):
  check_episode(runner, seed, scenario, choice_seed, invalid_step)


@pytest.fixture(scope="module")
def large_runner():
  """A load of 100 items with the EMS slots `--mode=pack` gives it."""
  env = make_env(dict(max_num_items=100, max_num_ems=ems_slots(100), obs_num_ems=OBSERVED_EMS_PER_ITEM * 100))
  return (env, *episode_runner(env))


@pytest.mark.slow
@settings(max_examples=6, deadline=None)
@given(**EPISODES)
def test_episode_invariants_at_100_items(large_runner, seed, scenario, choice_seed, invalid_step):
  check_episode(large_runner, seed, scenario, choice_seed, invalid_step)


def check_episode(runner, seed, scenario, choice_seed, invalid_step):
  """Plays one episode of `scenario` and checks every step (see the module docstring)."""
  env, run, num_steps = runner
  choices = np.random.default_rng(choice_seed).integers(0, 1000, num_steps)
  (first_state, first_timestep), (states, timesteps, actions) = jax.device_get(
      run(seed, SCENARIOS[scenario], jnp.asarray(choices, jnp.int32), invalid_step))
  at = lambda tree, t: jax.tree.map(lambda leaf: leaf[t], tree)

  assert check_state(first_state, env.obs_num_ems) == 0.0
  previous_state, previous_timestep, total_reward = first_state, first_timestep, 0.0
  took_invalid = False
  for t in range(num_steps):
    if previous_timestep.step_type == purepi_env.StepType.LAST:
      break
    state, timestep = at(states, t), at(timesteps, t)
    utilization = check_state(state, env.obs_num_ems)
    total_reward += float(timestep.reward)
    np.testing.assert_allclose(timestep.extras["volume_utilization"], utilization, rtol=1e-5)
    np.testing.assert_allclose(total_reward, utilization, rtol=1e-5, atol=1e-6)
    if timestep.extras["invalid_action"]:
      # An invalid action changes nothing and ends the episode.
      took_invalid = True
      assert not previous_state.action_mask[tuple(actions[t])]
      jax.tree.map(np.testing.assert_array_equal, state, previous_state)
      assert timestep.step_type == purepi_env.StepType.LAST and timestep.reward == 0 and timestep.discount == 0
    else:
      assert int(timestep.extras["packed_items"]) == int(previous_timestep.extras["packed_items"]) + 1
      assert timestep.last() == (not state.action_mask.any())
    previous_state, previous_timestep = state, timestep
  assert previous_timestep.step_type == purepi_env.StepType.LAST, "each valid step places an item, so episodes end"
  final_mask_empty = not previous_state.action_mask.any()
  full = bool(previous_state.items_placed.sum() == previous_state.items_mask.sum())
  # The rare paths, each reached by its scenario on every example (see --hypothesis-show-statistics).
  event(f"{scenario}: invalid action {took_invalid}, every item placed {full}, "
        f"no valid action left {final_mask_empty}")
  if scenario == "invalid":
    assert took_invalid
  if scenario == "solution":
    assert full and final_mask_empty and not took_invalid
    np.testing.assert_allclose(previous_timestep.extras["volume_utilization"], 1.0, rtol=1e-6)
  if scenario == "random_valid":
    assert final_mask_empty and not took_invalid


@pytest.mark.slow
def test_specs_describe_observations_and_actions():
  for normalize in (True, False):
    env = purepi_env.BinPack(normalize_dimensions=normalize)
    _, timestep = jax.jit(env.reset)(jax.random.PRNGKey(0))
    env.observation_spec.validate(timestep.observation)
    placeholder = env.observation_spec.generate_value()
    assert jax.tree.map(jnp.shape, placeholder) == jax.tree.map(jnp.shape, timestep.observation)
    assert jax.tree.map(jnp.dtype, placeholder) == jax.tree.map(jnp.dtype, timestep.observation)
  assert env.action_spec.shape == (2,) and env.action_spec.dtype == jnp.int32
  np.testing.assert_array_equal(env.action_spec.maximum, [env.obs_num_ems - 1, env.generator.max_num_items - 1])
  env.action_spec.validate(jnp.array([3, 5], jnp.int32))
  with pytest.raises(ValueError, match="outside"):
    env.action_spec.validate(jnp.array([env.obs_num_ems, 0], jnp.int32))
  with pytest.raises(ValueError, match="dtype"):
    env.observation_spec.ems_mask.validate(jnp.zeros(env.obs_num_ems, jnp.int32))


def support_fractions(state, obs_num_ems, candidate_lengths=None):
  """[O, I] numpy: the fraction of item i's base (lengths `candidate_lengths[i]`, by default the
  state's) resting on the floor or on placed items at EMS o's corner."""
  shown = np.asarray(state.sorted_ems_indexes)[:obs_num_ems]
  corner, _ = boxes(state.ems)
  corner = corner[shown]
  lengths = np.stack([np.asarray(length) for length in state.items], -1).astype(np.int64)
  placed = np.asarray(state.items_placed)
  lower = np.stack([np.asarray(c) for c in state.items_location], -1).astype(np.int64)[placed]
  upper = lower + lengths[placed]
  candidate_lengths = lengths if candidate_lengths is None else candidate_lengths
  fractions = np.zeros((len(shown), len(lengths)))
  for o, (x, y, z) in enumerate(corner):
    for i, (x_len, y_len, _) in enumerate(candidate_lengths):
      if z == 0:
        fractions[o, i] = 1.0
        continue
      area = 0
      for (px, py, _), (qx, qy, qz) in zip(lower, upper):
        if qz == z:
          area += max(0, min(x + x_len, qx) - max(x, px)) * max(0, min(y + y_len, qy) - max(y, py))
      fractions[o, i] = area / max(x_len * y_len, 1)
  return fractions


@pytest.fixture(scope="module", params=[0.5, 1.0])
def supported_runner(request):
  generator = purepi_env.RandomGenerator(10, 20, split_num_same_items=2)
  env = purepi_env.BinPack(generator, obs_num_ems=20, normalize_dimensions=False, min_support=request.param)
  run, num_steps = episode_runner(env)
  return env, run, num_steps


@settings(max_examples=25)
@given(seed=st.integers(0, 2**31 - 1), choice_seed=st.integers(0, 2**31 - 1))
@pytest.mark.slow
def test_with_min_support_every_placement_rests_on_enough_of_its_base(supported_runner, seed, choice_seed):
  """Random valid actions under `min_support`: the mask allows exactly the supported fits; geometry holds."""
  env, run, num_steps = supported_runner
  choices = np.random.default_rng(choice_seed).integers(0, 1000, num_steps)
  (state, timestep), (states, timesteps, actions) = jax.device_get(
      run(seed, SCENARIOS["random_valid"], jnp.asarray(choices, jnp.int32), 0))
  at = lambda tree, t: jax.tree.map(lambda leaf: leaf[t], tree)
  check_state(state, env.obs_num_ems, env.min_support)
  for t in range(num_steps):
    if timestep.step_type == purepi_env.StepType.LAST:
      break
    ems_id, item_id = actions[t]
    assert support_fractions(state, env.obs_num_ems)[ems_id, item_id] >= env.min_support
    state, timestep = at(states, t), at(timesteps, t)
    assert not timestep.extras["invalid_action"]
    check_state(state, env.obs_num_ems, env.min_support)
  assert timestep.step_type == purepi_env.StepType.LAST


@pytest.mark.slow
def test_min_support_forbids_exactly_the_placements_that_overhang_too_much():
  """After one item on the floor, the EMS on its top admits only items whose base it covers enough."""
  generator = purepi_env.RandomGenerator(10, 20, split_num_same_items=2)
  free = purepi_env.BinPack(generator, obs_num_ems=20, normalize_dimensions=False)
  stable = purepi_env.BinPack(generator, obs_num_ems=20, normalize_dimensions=False, min_support=0.75)
  state, _ = free.reset(jax.random.PRNGKey(7))
  first = int(np.argmin(np.asarray(state.items.x_len) * np.asarray(state.items.y_len)
                        + np.where(np.asarray(state.items_mask), 0, 10**9)))  # the smallest base
  state, _ = free.step(state, jnp.array([0, first]))
  free_mask = np.asarray(free._observe(state)[0].action_mask)
  stable_mask = np.asarray(stable._observe(state)[0].action_mask)
  on_top = np.asarray(state.ems.z1)[np.asarray(state.sorted_ems_indexes)[:20]] > 0
  fractions = support_fractions(state, 20)
  assert np.any(free_mask[on_top] & (fractions[on_top] < 0.75)), "no overhanging fit to forbid"
  np.testing.assert_array_equal(stable_mask, free_mask & (fractions >= 0.75))
  np.testing.assert_array_equal(stable_mask[~on_top], free_mask[~on_top])  # the floor supports everything


# Rotations: (rotations, generator, min_support); "boxes" items are not cut from the container.
ROTATED_CONFIGS = {
    "upright_cut": ("upright", "cut", 0.0),
    "all_boxes": ("all", "boxes", 0.0),
    "all_cut_supported": ("all", "cut", 0.5),
}


def make_rotated_env(rotations, generator_name, min_support):
  generator = (purepi_env.RandomBoxGenerator(10, 20) if generator_name == "boxes"
               else purepi_env.RandomGenerator(10, 20, split_num_same_items=2))
  return purepi_env.BinPack(generator, obs_num_ems=20, normalize_dimensions=False, min_support=min_support,
                            rotations=rotations)


def random_valid_runner(env):
  """jit(seed, choices [T]) -> first state, per-step (state, timestep, action): the `choices[t]`-th
  valid action of the flat action grid at each step."""
  num_steps = env.generator.max_num_items + 1

  def run(seed, choices):
    state, timestep = env.reset(jax.random.PRNGKey(seed))

    def step(carry, choice):
      state, _ = carry
      flat_mask = state.action_mask.reshape(-1)
      valid_rank = jnp.cumsum(flat_mask) - 1
      flat = jnp.argmax(flat_mask & (valid_rank == choice % jnp.maximum(jnp.sum(flat_mask), 1)))
      action = jnp.stack(jnp.unravel_index(flat, env.action_grid_shape)).astype(jnp.int32)
      next_state, next_timestep = env.step(state, action)
      return (next_state, next_timestep), (next_state, next_timestep, action)

    _, steps = jax.lax.scan(step, (state, timestep), choices)
    return state, steps

  return jax.jit(run), num_steps


@pytest.fixture(scope="module", params=list(ROTATED_CONFIGS))
def rotated_runner(request):
  env = make_rotated_env(*ROTATED_CONFIGS[request.param])
  return (env, *random_valid_runner(env))


@settings(max_examples=25)
@given(seed=st.integers(0, 2**31 - 1), choice_seed=st.integers(0, 2**31 - 1))
@pytest.mark.slow
def test_with_rotations_every_placement_is_a_turn_of_the_item_and_the_geometry_holds(rotated_runner, seed, choice_seed):
  """Random valid (ems, item, orientation) actions: at every step the mask is exactly the numpy rule
  over every allowed orientation (and support), the item lands at the EMS corner with its lengths
  permuted as the orientation says, nothing overlaps or leaves the container."""
  env, run, num_steps = rotated_runner
  permutations = purepi_env.orientations(env.rotations)
  choices = np.random.default_rng(choice_seed).integers(0, 10_000, num_steps)
  state, (states, timesteps, actions) = jax.device_get(run(seed, jnp.asarray(choices, jnp.int32)))
  at = lambda tree, t: jax.tree.map(lambda leaf: leaf[t], tree)
  listed = np.stack([np.asarray(length) for length in state.items], -1).astype(np.int64)
  assert actions.shape[-1] == 3 and state.action_mask.shape == env.action_grid_shape
  turned_any_item = False
  for t in range(num_steps):
    np.testing.assert_array_equal(np.asarray(state.action_mask),
                                  expected_action_mask(state, env.obs_num_ems, env.min_support, permutations))
    if not state.action_mask.any():
      break
    ems_id, item_id, orientation = actions[t]
    corner = [np.asarray(coordinate)[np.asarray(state.sorted_ems_indexes)[ems_id]]
              for coordinate in (state.ems.x1, state.ems.y1, state.ems.z1)]
    if env.min_support:
      turned = listed[:, list(permutations[orientation])]
      assert support_fractions(state, env.obs_num_ems, turned)[ems_id, item_id] >= env.min_support
    state, timestep = at(states, t), at(timesteps, t)
    assert not timestep.extras["invalid_action"]
    placed_lengths = [int(np.asarray(length)[item_id]) for length in state.items]
    assert placed_lengths == list(listed[item_id][list(permutations[orientation])])
    assert sorted(placed_lengths) == sorted(listed[item_id])  # a turn never changes the item
    if env.rotations == "upright":
      assert placed_lengths[2] == listed[item_id][2]  # the height is kept
    turned_any_item |= placed_lengths != list(listed[item_id])
    assert [int(np.asarray(c)[item_id]) for c in state.items_location] == [int(c) for c in corner]
    utilization = check_geometry(state)
    np.testing.assert_allclose(timestep.extras["volume_utilization"], utilization, rtol=1e-5)
  assert not state.action_mask.any(), "each valid step places an item, so episodes end"
  event(f"{env.rotations}: some item placed turned {turned_any_item}")


@pytest.mark.slow
def test_orientation_zero_steps_exactly_as_without_rotations():
  """The same placements taken as (ems, item) without rotations and as (ems, item, 0) with all six
  orientations give the same states; the rotated mask's orientation 0 is the unrotated mask."""
  generator = purepi_env.RandomGenerator(10, 20, split_num_same_items=2)
  plain = purepi_env.BinPack(generator, obs_num_ems=20, normalize_dimensions=False)
  rotated = purepi_env.BinPack(generator, obs_num_ems=20, normalize_dimensions=False, rotations="all")
  plain_state, plain_timestep = plain.reset(jax.random.PRNGKey(3))
  rotated_state, _ = rotated.reset(jax.random.PRNGKey(3))
  plain_step, rotated_step = jax.jit(plain.step), jax.jit(rotated.step)
  rng = np.random.default_rng(0)
  while not plain_timestep.last():
    np.testing.assert_array_equal(rotated_state.action_mask[..., 0], plain_state.action_mask)
    valid = np.argwhere(np.asarray(plain_state.action_mask))
    ems_id, item_id = valid[rng.integers(len(valid))]
    plain_state, plain_timestep = plain_step(plain_state, jnp.array([ems_id, item_id]))
    rotated_state, _ = rotated_step(rotated_state, jnp.array([ems_id, item_id, 0]))
    for name in ("ems", "ems_mask", "items", "items_placed", "items_location", "sorted_ems_indexes"):
      jax.tree.map(np.testing.assert_array_equal, getattr(rotated_state, name), getattr(plain_state, name))


@pytest.mark.slow
def test_a_turn_that_does_not_fit_is_an_invalid_action():
  """A container too low for an item's length: standing it on end is masked, and taking it changes nothing."""
  generator = purepi_env.RandomGenerator(10, 20, split_num_same_items=2, container_dims=(4000, 2000, 500))
  env = purepi_env.BinPack(generator, obs_num_ems=20, normalize_dimensions=False, rotations="all")
  state, _ = env.reset(jax.random.PRNGKey(0))
  listed = np.stack([np.asarray(length) for length in state.items], -1)
  item_id = int(np.argmax(np.where(np.asarray(state.items_mask), listed[:, 0], 0)))  # the longest along x
  assert listed[item_id, 0] > 500
  standing = purepi_env.ORIENTATIONS["all"].index((2, 1, 0))  # listed x length upright
  assert not state.action_mask[0, item_id, standing]
  next_state, timestep = env.step(state, jnp.array([0, item_id, standing]))
  assert timestep.extras["invalid_action"] and timestep.last()
  jax.tree.map(np.testing.assert_array_equal, next_state, state)
