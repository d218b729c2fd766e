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
# Action selection sees ONE tree (unbatched); the search vmaps it over the batch.
RootActionSelectionFn = Callable[[chex.PRNGKey, tree_lib.Tree, NodeIndices], chex.Array]
InteriorActionSelectionFn = Callable[
    [chex.PRNGKey, tree_lib.Tree, NodeIndices, Depth], chex.Array]
# `qtransform(tree, node_index) -> [num_actions]` values used to pick actions.
QTransform = Callable[[tree_lib.Tree, chex.Array], chex.Array]
# Same interface as `jax.lax.fori_loop`.
LoopFn = Callable[[int, int, Callable[[Any, Any], Any], Any], Any]
