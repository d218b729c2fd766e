"""The data that crosses the search's boundary: what the model returns, what the policy returns.

Names and fields mirror mctx, so calling code runs on either library. `B` is the batch.
"""
from typing import Any, Callable, Generic, Tuple, TypeVar

import chex

from purepi.search import tree as tree_lib

Params = chex.ArrayTree
Action = chex.Array
RecurrentState = Any
NodeIndices = chex.Array
Depth = chex.Array

T = TypeVar("T")


@chex.dataclass(frozen=True)
class RootFnOutput:
  """The model's evaluation of the states the search starts from.

  prior_logits: `[B, num_actions]` policy logits at the root.
  value: `[B]` value estimate of the root state.
  embedding: `[B, ...]` (any pytree) state handed to `recurrent_fn`.
  """
  prior_logits: chex.Array
  value: chex.Array
  embedding: RecurrentState


@chex.dataclass(frozen=True)
class RecurrentFnOutput:
  """The model's evaluation of one transition `(state, action) -> next state`.

  reward: `[B]` reward of the transition.
  discount: `[B]` discount applied to the next state's value.
  prior_logits: `[B, num_actions]` policy logits at the next state.
  value: `[B]` value estimate of the next state.
  """
  reward: chex.Array
  discount: chex.Array
  prior_logits: chex.Array
  value: chex.Array


@chex.dataclass(frozen=True)
class DecisionRecurrentFnOutput:
  """Stochastic MuZero: the model's evaluation of `(state, action) -> afterstate`.

  An afterstate is the state after the agent's action and before the
  environment's chance outcome, so this edge has no reward and no discount.

  chance_logits: `[B, C]` logits of the `C` chance outcomes at the afterstate.
  afterstate_value: `[B]` value estimate of the afterstate.
  """
  chance_logits: chex.Array
  afterstate_value: chex.Array


@chex.dataclass(frozen=True)
class ChanceRecurrentFnOutput:
  """Stochastic MuZero: the model's evaluation of `(afterstate, chance outcome) -> state`.

  action_logits: `[B, A]` policy logits at the new state.
  value: `[B]` value estimate of the new state.
  reward: `[B]` reward of the whole transition.
  discount: `[B]` discount applied to the new state's value.
  """
  action_logits: chex.Array
  value: chex.Array
  reward: chex.Array
  discount: chex.Array


@chex.dataclass(frozen=True)
class StochasticRecurrentState:
  """The embedding stored at every node of a Stochastic MuZero tree.

  state_embedding: `[B, ...]` the state at a decision node (a placeholder at a chance node).
  afterstate_embedding: `[B, ...]` the afterstate at a chance node (a placeholder at a decision node).
  is_decision_node: `[B]` bool, True at decision nodes; the root is one, and the
    two kinds alternate along every path.
  """
  state_embedding: chex.ArrayTree
  afterstate_embedding: chex.ArrayTree
  is_decision_node: chex.Array


@chex.dataclass(frozen=True)
class PolicyOutput(Generic[T]):
  """What a search policy returns.

  action: `[B]` int32 action to take.
  action_weights: `[B, num_actions]` the policy-improvement target (sums to 1);
    train the policy head by cross-entropy towards it.
  search_tree: the finished `Tree`, batched.
  """
  action: chex.Array
  action_weights: chex.Array
  search_tree: tree_lib.Tree[T]


# `recurrent_fn(params, rng_key, action [B], embedding [B, ...])`
#   -> `(RecurrentFnOutput, next embedding [B, ...])`.
RecurrentFn = Callable[[Params, chex.PRNGKey, Action, RecurrentState],
                       Tuple[RecurrentFnOutput, RecurrentState]]
# `decision_recurrent_fn(params, rng_key, action [B], state_embedding)`
#   -> `(DecisionRecurrentFnOutput, afterstate_embedding)`.
DecisionRecurrentFn = Callable[[Params, chex.PRNGKey, Action, RecurrentState],
                               Tuple[DecisionRecurrentFnOutput, RecurrentState]]
# `chance_recurrent_fn(params, rng_key, chance_outcome [B], afterstate_embedding)`
#   -> `(ChanceRecurrentFnOutput, state_embedding)`.
ChanceRecurrentFn = Callable[[Params, chex.PRNGKey, Action, RecurrentState],
                             Tuple[ChanceRecurrentFnOutput, RecurrentState]]
# Action selection sees ONE tree (unbatched); the search vmaps it over the batch.
RootActionSelectionFn = Callable[[chex.PRNGKey, tree_lib.Tree, NodeIndices], chex.Array]
InteriorActionSelectionFn = Callable[
    [chex.PRNGKey, tree_lib.Tree, NodeIndices, Depth], chex.Array]
# `qtransform(tree, node_index) -> [num_actions]` values used to pick actions.
QTransform = Callable[[tree_lib.Tree, chex.Array], chex.Array]
# Same interface as `jax.lax.fori_loop`.
LoopFn = Callable[[int, int, Callable[[Any, Any], Any], Any], Any]
