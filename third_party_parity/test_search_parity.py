"""purepi.search against mctx 0.0.71: the whole tree, `action` and `action_weights` agree.

Every field exactly, floats bit for bit. The model is synthetic but not trivial: rewards,
values, discounts (some 0) and coarsely rounded logits (so exact ties occur and
tie-breaking is exercised) are a hash of (embedding, action), plus a reward term
drawn from the key each `recurrent_fn` call receives, so the key splitting is
checked too. The embedding is a pytree.

Every case group shares its static shapes: each library compiles once per group
and the group loops over seeds, invalid-action patterns and the traced scalars
(gumbel_scale, temperature, Dirichlet parameters).
"""

import jax
import jax.numpy as jnp
import mctx
import numpy as np
import pytest

import purepi.masking
import purepi.search
from purepi.env import BinPack
from purepi.policies.rollout import rollout, unflatten_action
from third_party_parity.comparison import assert_same

LIBRARIES = {"mctx": mctx, "purepi": purepi.search}
NUM_SEEDS = 3


def synthetic_recurrent_fn(library, num_actions):
  """A deterministic model of (embedding, action), plus a small reward term from the key."""
  def recurrent_fn(params, rng_key, action, embedding):
    del params
    batch_size = action.shape[0]
    state_id = embedding["id"] * jnp.uint32(1000003) + action.astype(jnp.uint32) + 1
    node_keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.PRNGKey(7), i))(state_id)
    prior_logits = jnp.round(2 * jax.vmap(lambda k: jax.random.normal(k, [num_actions]))(node_keys)) / 2
    value = jax.vmap(lambda k: jax.random.normal(jax.random.fold_in(k, 1)))(node_keys)
    reward = (jax.vmap(lambda k: jax.random.uniform(jax.random.fold_in(k, 2)))(node_keys)
              + 0.01 * jax.random.uniform(rng_key, [batch_size]))
    discount = jnp.where(state_id % 7 == 0, 0.0, 0.95)
    next_embedding = {"id": state_id, "depth": embedding["depth"] + 1.0}
    return library.RecurrentFnOutput(
        reward=reward, discount=discount, prior_logits=prior_logits, value=value), next_embedding
  return recurrent_fn


def make_root(library, key, batch_size, num_actions):
  logits_key, value_key = jax.random.split(key)
  return library.RootFnOutput(
      prior_logits=jnp.round(2 * jax.random.normal(logits_key, [batch_size, num_actions])) / 2,
      value=jax.random.normal(value_key, [batch_size]),
      embedding={"id": jnp.arange(batch_size, dtype=jnp.uint32),
                 "depth": jnp.zeros([batch_size, 2])})


def invalid_action_patterns(key, batch_size, num_actions):
  """Named `[B, A]` bool masks: none, random, all but one valid, all invalid, mixed rows."""
  random = jax.random.bernoulli(key, 0.5, [batch_size, num_actions])
  all_but_one = jnp.ones([batch_size, num_actions], bool).at[:, num_actions // 2].set(False)
  all_invalid = jnp.ones([batch_size, num_actions], bool)
  mixed_rows = jnp.where(jnp.arange(batch_size)[:, None] % 3 == 0, all_invalid,
                         jnp.where(jnp.arange(batch_size)[:, None] % 3 == 1, all_but_one, random))
  return {"none_valid_mask": jnp.zeros([batch_size, num_actions], bool), "random": random,
          "all_but_one": all_but_one, "all_invalid": all_invalid, "mixed_rows": mixed_rows}


def compiled_policy(library, policy_name, batch_size, num_actions, num_simulations,
                    with_invalid_actions=True, **static_kwargs):
  """jit of `key, invalid_actions, traced kwargs -> PolicyOutput` for one library and static shape."""
  recurrent_fn = synthetic_recurrent_fn(library, num_actions)
  policy = getattr(library, policy_name)

  def run(key, invalid_actions, traced_kwargs):
    root_key, search_key = jax.random.split(key)
    root = make_root(library, root_key, batch_size, num_actions)
    return policy(None, search_key, root, recurrent_fn, num_simulations,
                  invalid_actions=invalid_actions if with_invalid_actions else None,
                  **static_kwargs, **traced_kwargs)
  return jax.jit(run)


def run_group(policy_name, batch_size, num_actions, num_simulations, traced_grid,
              make_key=jax.random.PRNGKey, **static_kwargs):
  """Compares both libraries over seeds x invalid-action patterns x `traced_grid`; returns #cases.

  `make_key`: `jax.random.PRNGKey` (raw uint32 keys) or `jax.random.key` (typed keys).
  """
  runs = {name: compiled_policy(library, policy_name, batch_size, num_actions, num_simulations,
                                **static_kwargs)
          for name, library in LIBRARIES.items()}
  num_cases = 0
  for seed in range(NUM_SEEDS):
    key = make_key(seed)
    patterns = invalid_action_patterns(jax.random.fold_in(jax.random.PRNGKey(seed), 1), batch_size,
                                       num_actions)
    for pattern_name, invalid_actions in patterns.items():
      for traced_kwargs in traced_grid:
        context = (f"{policy_name} B={batch_size} A={num_actions} sims={num_simulations} "
                   f"{static_kwargs} seed={seed} invalid={pattern_name} {traced_kwargs}")
        expected = runs["mctx"](key, invalid_actions, traced_kwargs)
        actual = runs["purepi"](key, invalid_actions, traced_kwargs)
        assert_same(actual, expected, context)
        num_cases += 1
  return num_cases


GUMBEL_SCALES = [{"gumbel_scale": 0.0}, {"gumbel_scale": 1.0}]

# (batch_size, num_actions, num_simulations, static kwargs)
GUMBEL_GROUPS = [
    (4, 5, 1, {}),
    (4, 5, 2, {}),
    (6, 10, 32, {}),  # more simulations than valid (considered) actions
    (5, 12, 24, {"max_num_considered_actions": 4}),  # several halving phases
    (6, 10, 40, {"max_depth": 2}),
    (2, 800, 32, {}),
    (3, 7, 9, {"with_invalid_actions": False}),  # invalid_actions=None
]


@pytest.mark.parametrize("batch_size,num_actions,num_simulations,static_kwargs", GUMBEL_GROUPS)
@pytest.mark.slow
def test_gumbel_muzero_policy_matches_mctx(batch_size, num_actions, num_simulations, static_kwargs):
  assert run_group("gumbel_muzero_policy", batch_size, num_actions, num_simulations,
                   GUMBEL_SCALES, **static_kwargs) == NUM_SEEDS * 5 * len(GUMBEL_SCALES)


# Same keys in every entry: one compiled function serves the whole grid.
MUZERO_TRACED = [
    {"temperature": 1.0, "dirichlet_fraction": 0.25, "dirichlet_alpha": 0.3, "pb_c_init": 1.25,
     "pb_c_base": 19652.0},
    {"temperature": 0.0, "dirichlet_fraction": 0.0, "dirichlet_alpha": 0.3, "pb_c_init": 1.25,
     "pb_c_base": 19652.0},
    {"temperature": 0.5, "dirichlet_fraction": 0.5, "dirichlet_alpha": 1.0, "pb_c_init": 2.0,
     "pb_c_base": 10.0},
]

MUZERO_GROUPS = [
    (4, 5, 1, {}),
    (6, 10, 32, {}),
    (6, 10, 40, {"max_depth": 2}),
    (2, 800, 32, {}),
]


@pytest.mark.parametrize("batch_size,num_actions,num_simulations,static_kwargs", MUZERO_GROUPS)
@pytest.mark.slow
def test_muzero_policy_matches_mctx(batch_size, num_actions, num_simulations, static_kwargs):
  """With new-style typed keys (`jax.random.key`): MuZero consumes the most keys."""
  assert run_group("muzero_policy", batch_size, num_actions, num_simulations, MUZERO_TRACED,
                   make_key=jax.random.key, **static_kwargs) == NUM_SEEDS * 5 * len(MUZERO_TRACED)


@pytest.mark.parametrize("policy_name", ["gumbel_muzero_policy", "muzero_policy"])
@pytest.mark.slow
def test_same_key_same_result_and_other_key_differs(policy_name):
  run = compiled_policy(purepi.search, policy_name, 6, 10, 16)
  invalid_actions = jnp.zeros([6, 10], bool)
  first = run(jax.random.PRNGKey(3), invalid_actions, {})
  again = run(jax.random.PRNGKey(3), invalid_actions, {})
  jax.tree.map(np.testing.assert_array_equal, first, again)
  other = run(jax.random.PRNGKey(4), invalid_actions, {})
  assert not np.array_equal(first.search_tree.children_visits, other.search_tree.children_visits)


# ---------------------------------------------------------------- the real model: BinPack

def _binpack_prior(observation, kind):
  """A fixed function of the observation: `[B, E * I]` logits (masked) and `[B]` value.

  "uniform": equal logits over valid actions, value 0 (every unvisited action ties).
  "items": larger items and earlier EMSs preferred, value = fraction of items placed.
  """
  invalid_actions = ~observation.action_mask.reshape(observation.action_mask.shape[0], -1)
  if kind == "uniform":
    logits = jnp.zeros(invalid_actions.shape)
    value = jnp.zeros(invalid_actions.shape[:1])
  else:
    items = observation.items
    item_size = items.x_len + items.y_len + items.z_len  # [B, I]
    num_ems = observation.action_mask.shape[1]
    ems_rank = -0.05 * jnp.arange(num_ems, dtype=jnp.float32)  # [E]
    logits = (item_size[:, None, :] + ems_rank[None, :, None]).reshape(invalid_actions.shape)
    value = jnp.mean(observation.items_placed.astype(jnp.float32), axis=-1)
  return purepi.masking.mask_invalid_actions(logits, invalid_actions), value, invalid_actions


def _binpack_recurrent_fn(library, env, kind):
  """The env as the search's model: step with the flat action, then the fixed prior."""
  batched_step = jax.vmap(env.step)

  def recurrent_fn(params, rng_key, action, state):
    del params, rng_key
    next_state, timestep = batched_step(state, unflatten_action(action, env.action_grid_shape))
    prior_logits, value, _ = _binpack_prior(timestep.observation, kind)
    return library.RecurrentFnOutput(
        reward=timestep.reward, discount=timestep.discount, prior_logits=prior_logits,
        value=jnp.where(timestep.last(), 0.0, value)), next_state
  return recurrent_fn


BINPACK_BATCH, BINPACK_SEEDS = 4, 2


@pytest.fixture(scope="module")
def binpack_roots():
  """(env, [(state, timestep)] per seed): root 0 of each batch at its start, the others 3 placements in."""
  env = BinPack()

  def first_valid_action(key, state, timestep):
    del key, state
    flat_mask = timestep.observation.action_mask.reshape(BINPACK_BATCH, -1)
    return unflatten_action(jnp.argmax(flat_mask, axis=-1), env.action_grid_shape), ()

  @jax.jit
  def start_states(key):
    state, timestep = jax.vmap(env.reset)(jax.random.split(key, BINPACK_BATCH))
    later_state, later_timestep, _ = rollout(env, first_valid_action, key, state, timestep, 3)
    is_later = jnp.arange(BINPACK_BATCH) > 0
    pick = lambda later, start: jnp.where(is_later.reshape((-1,) + (1,) * (later.ndim - 1)), later, start)
    return jax.tree.map(pick, later_state, state), jax.tree.map(pick, later_timestep, timestep)

  return env, [start_states(jax.random.PRNGKey(100 + seed)) for seed in range(BINPACK_SEEDS)]


@pytest.mark.parametrize("kind", ["uniform", "items"])
@pytest.mark.slow
def test_search_parity_on_binpack(binpack_roots, kind):
  """purepi and mctx Gumbel MuZero search identical trees when the model is `purepi.env.BinPack`.

  Flat actions over 40 EMSs x 20 items = 800; the roots' invalid actions are
  the flattened observation action mask.
  """
  env, roots = binpack_roots

  def make_policy(library):
    recurrent_fn = _binpack_recurrent_fn(library, env, kind)

    @jax.jit
    def policy(key, state, observation):
      prior_logits, value, invalid_actions = _binpack_prior(observation, kind)
      root = library.RootFnOutput(prior_logits=prior_logits, value=value, embedding=state)
      return library.gumbel_muzero_policy(None, key, root, recurrent_fn, 24, invalid_actions=invalid_actions)
    return policy

  policies = {name: make_policy(library) for name, library in LIBRARIES.items()}
  for seed, (state, timestep) in enumerate(roots):
    search_key = jax.random.PRNGKey(seed)
    expected = policies["mctx"](search_key, state, timestep.observation)
    actual = policies["purepi"](search_key, state, timestep.observation)
    assert expected.search_tree.num_actions == 800
    assert_same(actual, expected, f"BinPack, {kind} prior, seed {seed}")
