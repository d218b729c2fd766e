"""Axis-aligned boxes: the geometry every other env module is written in.

A `Space` is the box `[x1, x2) x [y1, y2) x [z1, z2)` in integer millimetres.
Its six fields may be scalars (one box) or arrays of any common shape (a batch of
boxes), so every method below broadcasts: `a.is_included(b)` with leaves of
shape `[N, 1]` and `[1, M]` gives the `[N, M]` table of "a_n inside b_m".
"""
from __future__ import annotations

from typing import Any

import chex
import jax.numpy as jnp

AXES = ("x", "y", "z")


@chex.dataclass
class Space:
  x1: chex.Numeric
  x2: chex.Numeric
  y1: chex.Numeric
  y2: chex.Numeric
  z1: chex.Numeric
  z2: chex.Numeric

  def astype(self, dtype: Any) -> Space:
    return Space(**{name: jnp.asarray(value, dtype) for name, value in self.items()})

  def get_axis_value(self, axis: str, index: int) -> chex.Numeric:
    """The coordinate `{axis}{index}`: `get_axis_value("y", 2)` is `y2`."""
    return getattr(self, _coordinate_name(axis, index))

  def set_axis_value(self, axis: str, index: int, value: chex.Numeric) -> None:
    """Sets the coordinate `{axis}{index}` in place (a chex dataclass is mutable outside jit)."""
    setattr(self, _coordinate_name(axis, index), value)

  def lower(self, axis: str) -> chex.Numeric:
    return self.get_axis_value(axis, 1)

  def upper(self, axis: str) -> chex.Numeric:
    return self.get_axis_value(axis, 2)

  def hyperplane(self, axis: str, direction: str) -> Space:
    """The half-space beyond one face of this box: everything below (`"lower"`) its
    `{axis}1` face or above (`"upper"`) its `{axis}2` face, infinite along the other axes."""
    if axis not in AXES or direction not in ("lower", "upper"):
      raise ValueError(f"hyperplane needs an axis in {AXES} and a direction 'lower' or 'upper', "
                       f"got axis={axis!r}, direction={direction!r}")
    bounds = {name: (jnp.inf if name.endswith("2") else -jnp.inf) for name in self.keys()}
    if direction == "lower":
      bounds[f"{axis}2"] = self.lower(axis)
    else:
      bounds[f"{axis}1"] = self.upper(axis)
    return Space(**bounds)

  def map(self, fn) -> Space:
    """Applies `fn` to each of the six coordinate leaves."""
    return Space(**{name: fn(value) for name, value in self.items()})

  def volume(self) -> chex.Numeric:
    """Volume as float32: an int32 product of three millimetre lengths would overflow."""
    x_len = jnp.asarray(self.x2 - self.x1, float)
    y_len = jnp.asarray(self.y2 - self.y1, float)
    z_len = jnp.asarray(self.z2 - self.z1, float)
    return x_len * y_len * z_len

  def intersection(self, other: Space) -> Space:
    """The largest box inside both; it may be empty (see `is_empty`)."""
    return Space(
        x1=jnp.maximum(self.x1, other.x1), x2=jnp.minimum(self.x2, other.x2),
        y1=jnp.maximum(self.y1, other.y1), y2=jnp.minimum(self.y2, other.y2),
        z1=jnp.maximum(self.z1, other.z1), z2=jnp.minimum(self.z2, other.z2))

  def is_empty(self) -> chex.Array:
    """True when some side has length zero or less."""
    return (self.x1 >= self.x2) | (self.y1 >= self.y2) | (self.z1 >= self.z2)

  def intersect(self, other: Space) -> chex.Array:
    """True when the two boxes share some volume (touching faces do not count)."""
    return ~self.intersection(other).is_empty()

  def is_included(self, other: Space) -> chex.Array:
    """True when `self` lies inside `other` (equal boxes included)."""
    return ((self.x1 >= other.x1) & (self.x2 <= other.x2)
            & (self.y1 >= other.y1) & (self.y2 <= other.y2)
            & (self.z1 >= other.z1) & (self.z2 <= other.z2))

  def slabs_around(self, box: Space) -> Space:
    """The six parts of `self` that lie beyond each face of `box`.

    Cutting a box `self` that `box` overlaps along the six face planes of `box`
    leaves six maximal slabs: the part below `box.x1` on x, above `box.x2` on x,
    and so on for y and z. Each slab keeps `self`'s full extent on the other two
    axes. A slab is empty when `self` does not reach past that face.

    Returns:
      A `Space` whose leaves have a new leading axis of size 6, in the order
      x-lower, x-upper, y-lower, y-upper, z-lower, z-upper.
    """
    slabs = {name: [] for name in self.keys()}
    for axis in AXES:
      for side in ("lower", "upper"):
        for name, value in self.items():
          if name == f"{axis}2" and side == "lower":
            value = jnp.minimum(value, box.lower(axis))
          elif name == f"{axis}1" and side == "upper":
            value = jnp.maximum(value, box.upper(axis))
          slabs[name].append(value)
    return Space(**{name: jnp.stack(values) for name, values in slabs.items()})


def _coordinate_name(axis: str, index: int) -> str:
  if axis not in AXES or index not in (1, 2):
    raise ValueError(f"a Space coordinate needs an axis in {AXES} and an index 1 or 2, "
                     f"got axis={axis!r}, index={index!r}")
  return f"{axis}{index}"
