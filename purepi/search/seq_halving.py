"""Sequential Halving over the root's considered actions, expressed as a visit schedule.

Sequential Halving (Karnin et al., 2013), as used at the root by Gumbel MuZero
("Policy improvement by planning with Gumbel", Danihelka et al., ICLR 2022,
Section 3.2): start with the m considered actions (the Gumbel-Top-m), and in each
phase give every remaining action
  max(1, floor(n / (ceil(log2 m) * m_phase)))
more visits, n being the simulation budget and m_phase the number of remaining
actions; then keep the better half (never fewer than 2) and repeat until the
budget is spent.

The schedule is written as the *considered visit count* of each simulation: the
visit count an action must currently have to be eligible. Because the search
always picks the best eligible action, the actions eliminated by halving are
exactly those left behind at a lower visit count.
"""
import math
from typing import NamedTuple, Tuple

import jax.numpy as jnp


def get_sequence_of_considered_visits(max_num_considered_actions: int,
                                      num_simulations: int) -> Tuple[int, ...]:
  """The considered visit count of each simulation `0 .. num_simulations - 1`.

  With m = `max_num_considered_actions` <= 1 there is nothing to halve and the
  single action is visited by every simulation: the sequence is 0, 1, 2, ...
  """
  return tuple(
      visits for phase in sequential_halving_phases(max_num_considered_actions, num_simulations)
      for visits in phase.considered_visits)


def get_table_of_considered_visits(max_num_considered_actions: int,
                                   num_simulations: int) -> Tuple[Tuple[int, ...], ...]:
  """The sequence for every m in `0 .. max_num_considered_actions`.

  Returns a `[max_num_considered_actions + 1, num_simulations]` nested tuple; row m
  is used by roots with only m valid actions.
  """
  return tuple(get_sequence_of_considered_visits(m, num_simulations)
               for m in range(max_num_considered_actions + 1))


class Phase(NamedTuple):
  """One round of Sequential Halving.

  first_simulation: index of the phase's first simulation.
  num_considered: how many actions are still considered in this phase.
  visits_per_action: visits each of them receives in this phase.
  considered_visits: the considered visit count of each of the phase's simulations.
  """
  first_simulation: int
  num_considered: int
  visits_per_action: int
  considered_visits: Tuple[int, ...]


def sequential_halving_phases(max_num_considered_actions: int,
                              num_simulations: int) -> Tuple[Phase, ...]:
  """The phases of Sequential Halving; their `considered_visits` concatenate to the schedule.

  The last phase is cut where the budget runs out, so the schedule has exactly
  `num_simulations` entries.
  """
  if max_num_considered_actions <= 1:
    return (Phase(0, max_num_considered_actions, num_simulations, tuple(range(num_simulations))),)
  num_phases_log2 = math.ceil(math.log2(max_num_considered_actions))
  phases = []
  num_scheduled = 0
  visits_so_far = 0
  num_considered = max_num_considered_actions
  while num_scheduled < num_simulations:
    visits_per_action = max(1, int(num_simulations / (num_phases_log2 * num_considered)))
    considered_visits = tuple(
        visits_so_far + round_index
        for round_index in range(visits_per_action)
        for _ in range(num_considered))[:num_simulations - num_scheduled]
    phases.append(Phase(num_scheduled, num_considered, visits_per_action, considered_visits))
    num_scheduled += len(considered_visits)
    visits_so_far += visits_per_action
    num_considered = max(2, num_considered // 2)
  return tuple(phases)


def score_considered(considered_visit, gumbel, logits, normalized_qvalues, visit_counts):
  """Root score g(a) + logits(a) + sigma(q(a)), restricted to the eligible actions.

  This is the Sequential Halving with Gumbel selection rule (Section 3.2,
  `argmax_a g(a) + logits(a) + sigma(q(a))` over the remaining actions):
  actions whose visit count differs from `considered_visit` get -inf. The
  finite floor `-1e9` keeps invalid (min-logit) actions below every eligible
  valid one without producing -inf + inf.

  Args:
    considered_visit: `[]` or `[B, 1]` visit count of the eligible actions.
    gumbel: `[..., num_actions]` Gumbel noise g.
    logits: `[..., num_actions]` prior logits (shifted here so their max is 0).
    normalized_qvalues: `[..., num_actions]` sigma(completed Q).
    visit_counts: `[..., num_actions]` N(a).

  Returns:
    `[..., num_actions]` scores for an argmax.
  """
  logits = logits - jnp.max(logits, axis=-1, keepdims=True)
  eligible_penalty = jnp.where(visit_counts == considered_visit, 0, -jnp.inf)
  return jnp.maximum(-1e9, gumbel + logits + normalized_qvalues) + eligible_penalty
