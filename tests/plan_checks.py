"""Checks a load plan must pass, whatever packed it: shared by the pack tests."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest


def check_items_lie_in_the_container_and_never_overlap(plan):
  lower = np.array([[p.x, p.y, p.z] for p in plan.placements])
  upper = lower + np.array([[p.x_len, p.y_len, p.z_len] for p in plan.placements])
  assert np.all(lower >= 0) and np.all(upper <= np.array(plan.container))
  shared = np.all(np.maximum(lower[:, None], lower[None]) < np.minimum(upper[:, None], upper[None]), -1)
  assert not np.any(shared & ~np.eye(len(lower), dtype=bool))


def check_replaying_the_rows_reproduces_the_utilization(plan, env):
  """Each row, in order, is a valid action of `env` at its corner; the replay's utilization is the plan's."""
  step = jax.jit(env.step)
  state, timestep = env.reset(jax.random.PRNGKey(0))
  for placement in plan.placements:
    shown = np.asarray(state.sorted_ems_indexes)[:env.obs_num_ems]
    corners = np.stack([np.asarray(state.ems.x1)[shown], np.asarray(state.ems.y1)[shown],
                        np.asarray(state.ems.z1)[shown]], -1)
    at_corner = np.all(corners == [placement.x, placement.y, placement.z], -1)
    ems_id = int(np.argmax(at_corner & np.asarray(state.action_mask)[:, placement.item]))
    assert at_corner[ems_id] and state.action_mask[ems_id, placement.item]
    state, timestep = step(state, jnp.array([ems_id, placement.item], jnp.int32))
    assert not timestep.extras["invalid_action"]
  assert float(timestep.extras["volume_utilization"]) == pytest.approx(plan.utilization, rel=1e-6)
  volume = sum(p.x_len * p.y_len * p.z_len for p in plan.placements)
  assert plan.utilization == pytest.approx(volume / np.prod(plan.container), rel=1e-9)
