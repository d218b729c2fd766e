"""The policy-value network: a transformer over EMS tokens and item tokens.

Each observation is two sets of tokens: the `E` empty maximal spaces (6
coordinates each) and the `I` items (3 lengths each). Every layer lets each set
attend to itself, then to the other set through the action mask, so an EMS
only hears about the items that fit in it and an item only about the EMSs it
fits in. The policy scores every (EMS, item) pair with a bilinear form, which
gives the `E * I` flat action space of the search (`E * I * R` with R
orientations per item: then each item has one policy key per orientation); the value pools both sets
and predicts the return still to come, a fraction of the container in [0, 1].
"""
from typing import Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from purepi.env.orientations import fits_any_orientation, orientation_count, placeable_items
from purepi.masking import mask_invalid_actions


class MLP(nn.Module):
  """Dense layers with ReLU between them (none after the last)."""
  layer_sizes: Sequence[int]

  @nn.compact
  def __call__(self, x):
    for index, size in enumerate(self.layer_sizes):
      x = nn.Dense(size)(x)
      if index < len(self.layer_sizes) - 1:
        x = nn.relu(x)
    return x


class AttentionBlock(nn.Module):
  """Pre-LayerNorm transformer block: masked attention, then an MLP, each residual.

  A query whose mask row is all False (an EMS no item fits in, a padding token)
  receives no attention update instead of a uniform average over masked keys.
  """
  num_heads: int
  key_size: int
  mlp_units: Sequence[int]

  @nn.compact
  def __call__(self, queries, keys_values, mask):
    """Updates `queries` `[..., Q, D]` from `keys_values` `[..., K, D]`; `mask` is `[..., Q, K]` bools."""
    model_size = self.num_heads * self.key_size
    normed_queries = nn.LayerNorm(name="query_norm")(queries)
    if keys_values is queries:
      normed_keys_values = normed_queries
    else:
      normed_keys_values = nn.LayerNorm(name="key_value_norm")(keys_values)
    attended = nn.MultiHeadDotProductAttention(
        num_heads=self.num_heads, qkv_features=model_size, out_features=model_size)(
            normed_queries, normed_keys_values, mask=mask[..., None, :, :])
    has_any_key = jnp.any(mask, axis=-1, keepdims=True)
    hidden = queries + jnp.where(has_any_key, attended, 0.0)
    return hidden + MLP((*self.mlp_units, model_size))(nn.LayerNorm(name="mlp_norm")(hidden))


def _pair_mask(mask):
  """`[..., N]` token mask -> `[..., N, N]`: both tokens of a pair must be present."""
  return mask[..., :, None] & mask[..., None, :]


def pair_features(observation) -> jax.Array:
  """`[..., E, I(, R)]` + `[6]` geometry of placing item i (turned to orientation r) in EMS e;
  0 where the pair is not a valid action.

  The item's length over the EMS's on each axis (how tightly it fits), item
  volume over EMS volume (the fill ratio tightest fit maximises), and the
  EMS's corner height z1 and depth x1 (how low and deep the item would sit:
  fractions of the container in normalised observations, the default).
  """
  ems, items = observation.ems, placeable_items(observation)
  extra_axes = 1 if orientation_count(observation) else 0
  as_float = lambda value: jnp.asarray(value, jnp.float32)
  per_ems = lambda value: as_float(value).reshape(value.shape + (1,) * (1 + extra_axes))  # [..., E, 1(, 1)]
  per_item = lambda value: as_float(value)[..., None, :, :] if extra_axes else as_float(value)[..., None, :]
  ems_lengths = [ems.x2 - ems.x1, ems.y2 - ems.y1, ems.z2 - ems.z1]
  item_lengths = [items.x_len, items.y_len, items.z_len]
  ratios = [per_item(item) / jnp.maximum(per_ems(space), 1e-6) for item, space in zip(item_lengths, ems_lengths)]
  fill_ratio = ratios[0] * ratios[1] * ratios[2]
  corner = [jnp.broadcast_to(per_ems(coordinate), fill_ratio.shape) for coordinate in (ems.z1, ems.x1)]
  features = jnp.stack(ratios + [fill_ratio] + corner, axis=-1)
  return jnp.where(observation.action_mask[..., None], features, 0.0)


def pool_tokens(tokens, present, pooling: str):
  """`[..., N, D]` tokens -> `[..., D]`: their sum or mean over the `present` `[..., N]` ones (0 if none)."""
  total = jnp.sum(jnp.where(present[..., None], tokens, 0.0), axis=-2)
  if pooling == "sum":
    return total
  return total / jnp.maximum(jnp.sum(present, axis=-1, keepdims=True), 1)


class PolicyValueNetwork(nn.Module):
  """Maps a batch of BinPack observations to masked policy logits and a value.

  Attributes:
    num_layers: layers, each EMS self-attention, item self-attention and the
      two cross-attentions.
    num_heads, key_size: attention heads and their size; the model size is
      `num_heads * key_size`.
    mlp_units: hidden sizes of every block's MLP and of the value head.
    pairwise_policy_head: add to the bilinear logits a small MLP over each
      (EMS, item) pair: its first layer sums a projection of the EMS's
      embedding, one of the item's and one of `pair_features` (so it costs
      per token, not per pair, except for the features), then ReLU and one
      output. False is the blog's bilinear head alone.
    value_pooling: how the value head reads each set of tokens: `mean` over
      the present ones keeps its input at the scale of one LayerNormed token
      at any width; `sum` (Jumanji's critic, this network's first value head)
      grows with the token count and the width, and can start the sigmoid
      saturated (a value of 0 or 1 everywhere, with almost no gradient).
  """
  num_layers: int
  num_heads: int
  key_size: int
  mlp_units: Sequence[int]
  pairwise_policy_head: bool = False
  value_pooling: str = "mean"

  @nn.compact
  def __call__(self, observation) -> Tuple[jax.Array, jax.Array]:
    """Returns `(logits [..., E * I], value [...])` for observations with leading dims `[...]`
    (`[..., E * I * R]` logits when the action mask has an orientation axis).

    Invalid actions (`~action_mask`) sit at the finite minimum of the logits'
    dtype; the value is in [0, 1].
    """
    model_size = self.num_heads * self.key_size
    ems = observation.ems
    ems_features = jnp.stack([ems.x1, ems.x2, ems.y1, ems.y2, ems.z1, ems.z2], axis=-1)
    items = observation.items
    item_features = jnp.stack([items.x_len, items.y_len, items.z_len], axis=-1)
    ems_h = nn.Dense(model_size, name="ems_embedding")(ems_features.astype(jnp.float32))
    items_h = nn.Dense(model_size, name="item_embedding")(item_features.astype(jnp.float32))

    items_available = observation.items_mask & ~observation.items_placed
    ems_self_mask = _pair_mask(observation.ems_mask)
    items_self_mask = _pair_mask(items_available)
    num_orientations = orientation_count(observation)
    # An EMS and an item attend to each other when the item fits there in some orientation.
    pair_mask = fits_any_orientation(observation)
    ems_to_items_mask = pair_mask
    items_to_ems_mask = jnp.swapaxes(pair_mask, -1, -2)

    block = lambda name: AttentionBlock(self.num_heads, self.key_size, self.mlp_units, name=name)
    for layer in range(self.num_layers):
      ems_h = block(f"ems_self_attention_{layer}")(ems_h, ems_h, ems_self_mask)
      items_h = block(f"items_self_attention_{layer}")(items_h, items_h, items_self_mask)
      # Both cross-attentions read the embeddings from before either update.
      ems_h, items_h = (
          block(f"ems_from_items_{layer}")(ems_h, items_h, ems_to_items_mask),
          block(f"items_from_ems_{layer}")(items_h, ems_h, items_to_ems_mask))
    ems_h = nn.LayerNorm(name="ems_final_norm")(ems_h)
    items_h = nn.LayerNorm(name="items_final_norm")(items_h)

    # Policy: logits[e, i] = <W_e h_e, W_i h_i>. With rotations each item has one
    # key per orientation: W_i h_i plus a projection of its lengths so turned.
    ems_keys = nn.Dense(model_size, name="policy_ems_head")(ems_h)
    item_keys = nn.Dense(model_size, name="policy_item_head")(items_h)
    grid_axes = 3 if num_orientations else 2
    if num_orientations:
      oriented = placeable_items(observation)
      oriented_features = jnp.stack([oriented.x_len, oriented.y_len, oriented.z_len], axis=-1).astype(jnp.float32)
      item_keys = item_keys[..., None, :] + nn.Dense(model_size, name="policy_orientation_head")(oriented_features)
      logits = jnp.einsum("...ek,...irk->...eir", ems_keys, item_keys)
    else:
      logits = jnp.einsum("...ek,...ik->...ei", ems_keys, item_keys)
    if self.pairwise_policy_head:
      # EMS terms [..., E, D] broadcast over the item (and orientation) axes, item terms over E.
      ems_term = nn.Dense(model_size, name="pair_ems")(ems_h)
      ems_term = ems_term.reshape(ems_term.shape[:-1] + (1,) * (grid_axes - 1) + ems_term.shape[-1:])
      item_term = nn.Dense(model_size, use_bias=False, name="pair_item")(items_h)
      if num_orientations:
        item_term = item_term[..., None, :] + nn.Dense(model_size, use_bias=False, name="pair_orientation")(
            oriented_features)
      item_term = jnp.expand_dims(item_term, axis=-1 - grid_axes)
      hidden = ems_term + item_term + nn.Dense(model_size, use_bias=False, name="pair_geometry")(
          pair_features(observation))
      logits = logits + nn.Dense(1, name="pair_logit")(nn.relu(hidden))[..., 0]
    flat_shape = logits.shape[:-grid_axes] + (-1,)
    logits = mask_invalid_actions(
        logits.reshape(flat_shape), ~observation.action_mask.reshape(flat_shape))

    # Value: pool the present EMSs and the available items, then an MLP.
    ems_pool = pool_tokens(ems_h, observation.ems_mask, self.value_pooling)
    items_pool = pool_tokens(items_h, items_available, self.value_pooling)
    value_logit = MLP((*self.mlp_units, 1), name="value_head")(
        jnp.concatenate([ems_pool, items_pool], axis=-1))
    value = nn.sigmoid(value_logit[..., 0])
    return logits, value


def make_network(config) -> PolicyValueNetwork:
  """The network a `purepi.config.Config` describes."""
  return PolicyValueNetwork(
      num_layers=config.num_layers, num_heads=config.num_heads, key_size=config.key_size,
      mlp_units=tuple(config.mlp_units), pairwise_policy_head=config.pairwise_policy_head,
      value_pooling=config.value_pooling)
