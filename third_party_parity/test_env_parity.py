"""purepi.env against Jumanji 1.1.2's BinPack-v2: identical instances and identical dynamics.

Each configuration runs one jitted, vmapped function over many keys: both envs
reset from the same key, then take the same actions (chosen from purepi's
observation) for `max_num_items + 2` steps. A third of the episodes pick random
valid actions, a third a greedy heuristic, a third random valid actions with one
invalid action at a random step. Every state and time step is then compared:
integers and booleans exactly, floats to `ENV_FLOAT_TOLERANCE`.
"""

import jax
import jax.numpy as jnp
import pytest
from jumanji.environments.packing.bin_pack import env as jumanji_env
from jumanji.environments.packing.bin_pack import generator as jumanji_generator
from jumanji.environments.packing.bin_pack import reward as jumanji_reward

import purepi.env as purepi_env
import purepi.env.ems  # noqa: F401  (purepi_env.ems)
from third_party_parity.comparison import ENV_FLOAT_TOLERANCE, assert_same, random_valid_action

# Jumanji's own EMS update writes float32 into int32 arrays, which JAX flags.
# The fast tier leaves this file out (README, "Tests").
pytestmark = [pytest.mark.filterwarnings("ignore:scatter inputs have incompatible types:FutureWarning"),
              pytest.mark.slow]

NUM_EPISODES = 240
RANDOM, GREEDY, WITH_INVALID = 0, 1, 2


def greedy_action(observation):
  """Largest item that fits in the largest observed EMS that takes any item."""
  mask = observation.action_mask
  volumes = observation.items.x_len * observation.items.y_len * observation.items.z_len
  ems_id = jnp.argmax(jnp.any(mask, axis=1))
  item_id = jnp.argmax(jnp.where(mask[ems_id], volumes, -1))
  return jnp.stack([ems_id, item_id]).astype(jnp.int32)


def first_invalid_action(observation):
  mask = observation.action_mask
  flat = jnp.argmin(mask.reshape(-1))
  return jnp.stack([flat // mask.shape[1], flat % mask.shape[1]]).astype(jnp.int32)


def run_both(ours, theirs, keys):
  """Resets and steps both envs on every key; returns `(ours, theirs)` trajectories."""
  num_steps = ours.generator.max_num_items + 2

  def episode(key, policy):
    reset_key, policy_key, inject_key = jax.random.split(key, 3)
    invalid_step = jax.random.randint(inject_key, (), 0, num_steps - 2)
    our_start, their_start = ours.reset(reset_key), theirs.reset(reset_key)

    def step(carry, t):
      our_state, our_timestep, their_state, their_timestep = carry
      observation = our_timestep.observation
      action = jnp.where(policy == GREEDY, greedy_action(observation),
                         random_valid_action(jax.random.fold_in(policy_key, t), observation))
      action = jnp.where((policy == WITH_INVALID) & (t == invalid_step), first_invalid_action(observation), action)
      our_state, our_timestep = ours.step(our_state, action)
      their_state, their_timestep = theirs.step(their_state, action)
      return (our_state, our_timestep, their_state, their_timestep), (
          (our_state, our_timestep), (their_state, their_timestep))

    _, (our_steps, their_steps) = jax.lax.scan(step, (*our_start, *their_start), jnp.arange(num_steps))
    return (our_start, our_steps), (their_start, their_steps)

  policies = jnp.arange(keys.shape[0]) % 3
  return jax.jit(jax.vmap(episode))(keys, policies)


def write_csv(path):
  path.write_text("Item_Name,Length,Width,Height,Quantity\n"
                  "shape_1,1080,760,300,5\n"
                  "shape_2,1100,430,250,3\n"
                  "shape_3,2000,1500,900,4\n"
                  "shape_4,600,600,600,6\n")
  return str(path)


CONFIGS = {
    "random_normalized_dense": lambda tmp: dict(
        generator=("RandomGenerator", dict(max_num_items=20, max_num_ems=40, split_num_same_items=2))),
    "random_millimetres_sparse": lambda tmp: dict(
        generator=("RandomGenerator", dict(max_num_items=20, max_num_ems=40, split_num_same_items=2)),
        normalize_dimensions=False, reward_fn="SparseReward"),
    # Few EMS slots and a partial observation: exercises the full-buffer (slot 0 overwrite) rule.
    "random_few_ems_slots": lambda tmp: dict(
        generator=("RandomGenerator", dict(max_num_items=12, max_num_ems=8, split_num_same_items=5)),
        obs_num_ems=6),
    # A load's sizes (`purepi.env.make.ems_slots(50)`): more slots than the counting sort of the
    # observed EMSs handles, so they are ordered by a sort.
    "random_50_items_175_slots": lambda tmp: dict(
        generator=("RandomGenerator", dict(max_num_items=50, max_num_ems=175, split_num_same_items=2)),
        obs_num_ems=175),
    "toy": lambda tmp: dict(generator=("ToyGenerator", {})),
    "csv": lambda tmp: dict(generator=("CSVGenerator", dict(csv_path=write_csv(tmp / "items.csv"), max_num_ems=50)),
                            obs_num_ems=30, normalize_dimensions=False),
}


def make_pair(config):
  generator_name, generator_kwargs = config["generator"]
  reward_name = config.get("reward_fn", "DenseReward")
  env_kwargs = dict(obs_num_ems=config.get("obs_num_ems", 40),
                    normalize_dimensions=config.get("normalize_dimensions", True))
  ours = purepi_env.BinPack(getattr(purepi_env, generator_name)(**generator_kwargs),
                            reward_fn=getattr(purepi_env, reward_name)(), **env_kwargs)
  theirs = jumanji_env.BinPack(getattr(jumanji_generator, generator_name)(**generator_kwargs),
                               reward_fn=getattr(jumanji_reward, reward_name)(), **env_kwargs)
  return ours, theirs


@pytest.mark.parametrize("name", [pytest.param(name, marks=[pytest.mark.slow, pytest.mark.optimized_xla] * name.startswith("random_50"))
                                  for name in CONFIGS])
def test_episodes_match_jumanji(name, tmp_path):
  ours, theirs = make_pair(CONFIGS[name](tmp_path))
  keys = jax.random.split(jax.random.PRNGKey(7), NUM_EPISODES)
  (our_start, our_steps), (their_start, their_steps) = run_both(ours, theirs, keys)
  assert_same(our_start, their_start, f"{name}.reset", atol=ENV_FLOAT_TOLERANCE)
  assert_same(our_steps, their_steps, f"{name}.steps", atol=ENV_FLOAT_TOLERANCE)
  # The episodes did something worth comparing: items got placed, some invalid actions were taken.
  assert our_steps[1].extras["packed_items"].max() > 1
  assert our_steps[1].extras["invalid_action"].any()


def test_ems_update_matches_jumanji_on_arbitrary_ems_sets():
  """The EMS update alone, on EMS sets no episode produces: boxes on a 5-unit grid,
  so equal, nested and overlapping EMSs are common, and few slots, so the buffer
  overflows often. Covers the equal-candidate and full-buffer rules of `update_ems`."""
  num_cases, num_slots, grid = 4000, 8, 5
  theirs = jumanji_env.BinPack(jumanji_generator.RandomGenerator(max_num_items=1, max_num_ems=num_slots))

  def random_boxes(key, shape):
    corners = jax.random.randint(key, (2, 3) + shape, 0, grid + 1)
    lower, upper = jnp.minimum(corners[0], corners[1]), jnp.maximum(corners[0], corners[1])
    return purepi_env.Space(x1=lower[0], x2=upper[0], y1=lower[1], y2=upper[1], z1=lower[2], z2=upper[2])

  def one_case(key):
    ems_key, mask_key, item_key = jax.random.split(key, 3)
    ems = random_boxes(ems_key, (num_slots,))
    ems_mask = jax.random.bernoulli(mask_key, 0.8, (num_slots,))
    item = random_boxes(item_key, ())
    item = item.replace(x2=item.x2 + 1, y2=item.y2 + 1, z2=item.z2 + 1)  # items have positive sides
    our_ems, our_mask, _ = purepi_env.ems.update_ems(ems, ems_mask, item)
    their_state = theirs.generator(key).replace(
        ems=jumanji_env.Space(**dict(ems.items())), ems_mask=ems_mask,
        items=jumanji_env.Item(*(jnp.reshape(length, (1,)) for length in purepi_env.item_from_space(item))),
        items_location=jumanji_env.Location(*(jnp.reshape(corner, (1,)) for corner in (item.x1, item.y1, item.z1))))
    their_state = theirs._update_ems(their_state, 0)
    return (our_ems, our_mask), (their_state.ems, their_state.ems_mask)

  ours, theirs_result = jax.jit(jax.vmap(one_case))(jax.random.split(jax.random.PRNGKey(3), num_cases))
  assert_same(ours, theirs_result, "update_ems")


@pytest.mark.parametrize("split_num_same_items", [2, 5])
def test_generate_solution_matches_jumanji(split_num_same_items):
  kwargs = dict(max_num_items=20, max_num_ems=40, split_num_same_items=split_num_same_items)
  ours, theirs = purepi_env.RandomGenerator(**kwargs), jumanji_generator.RandomGenerator(**kwargs)
  keys = jax.random.split(jax.random.PRNGKey(11), NUM_EPISODES)
  both = jax.jit(jax.vmap(lambda key: (ours.generate_solution(key), theirs.generate_solution(key))))(keys)
  assert_same(*both, "random_solution")
  assert_same(purepi_env.ToyGenerator().generate_solution(keys[0]),
              jumanji_generator.ToyGenerator().generate_solution(keys[0]), "toy_solution")
