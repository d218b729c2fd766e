"""Specs: descriptions (shape, dtype, bounds) of the arrays an environment takes and returns.

`generate_value()` builds a placeholder value (handy to initialise networks), and
`validate(value)` raises ValueError when a value does not conform.
"""
from typing import Any, Callable, Tuple

import jax
import jax.numpy as jnp
import numpy as np


class Array:
  """An array of fixed shape and dtype."""

  def __init__(self, shape: Tuple[int, ...], dtype: Any, name: str = ""):
    self.shape = tuple(int(dim) for dim in shape)
    self.dtype = jax.dtypes.canonicalize_dtype(dtype)  # float -> float32 unless x64 is on
    self.name = name

  def __repr__(self):
    return f"{type(self).__name__}(shape={self.shape}, dtype={self.dtype}, name={self.name!r})"

  def generate_value(self) -> jax.Array:
    return jnp.zeros(self.shape, self.dtype)

  def validate(self, value) -> jax.Array:
    value = jnp.asarray(value)
    if value.shape != self.shape:
      raise ValueError(f"{self.name}: expected shape {self.shape}, got {value.shape}")
    if value.dtype != self.dtype:
      raise ValueError(f"{self.name}: expected dtype {self.dtype}, got {value.dtype}")
    return value


class BoundedArray(Array):
  """An array whose values lie in `[minimum, maximum]` (inclusive, broadcast to `shape`)."""

  def __init__(self, shape, dtype, minimum, maximum, name: str = ""):
    super().__init__(shape, dtype, name)
    self.minimum = np.broadcast_to(np.asarray(minimum, self.dtype), self.shape)
    self.maximum = np.broadcast_to(np.asarray(maximum, self.dtype), self.shape)
    if np.any(self.minimum > self.maximum):
      raise ValueError(f"{name}: minimum {minimum} exceeds maximum {maximum}")

  def __repr__(self):
    return (f"BoundedArray(shape={self.shape}, dtype={self.dtype}, minimum={self.minimum.min()}, "
            f"maximum={self.maximum.max()}, name={self.name!r})")

  def generate_value(self) -> jax.Array:
    return jnp.asarray(self.minimum)

  def validate(self, value) -> jax.Array:
    value = super().validate(value)
    if np.any(np.asarray(value) < self.minimum) or np.any(np.asarray(value) > self.maximum):
      raise ValueError(f"{self.name}: values outside [{self.minimum.min()}, {self.maximum.max()}]")
    return value


class MultiDiscreteArray(BoundedArray):
  """A vector of integers, entry `k` in `[0, num_values[k])` (e.g. the (ems_id, item_id) action)."""

  def __init__(self, num_values, dtype=jnp.int32, name: str = ""):
    self.num_values = np.asarray(num_values)
    if np.any(self.num_values <= 0):
      raise ValueError(f"{name}: num_values must be positive, got {self.num_values}")
    super().__init__(self.num_values.shape, dtype, 0, self.num_values - 1, name)


class Spec:
  """A structure of specs, built into a value by `constructor(**children)` (a NamedTuple, a dataclass)."""

  def __init__(self, constructor: Callable, name: str = "", **children):
    self.constructor = constructor
    self.name = name
    self.children = children
    for child_name, child in children.items():
      setattr(self, child_name, child)

  def __repr__(self):
    inner = ",\n".join(f"  {name}={child!r}" for name, child in self.children.items())
    return f"{self.name}(\n{inner})"

  def __getitem__(self, name: str):
    return self.children[name]

  def generate_value(self):
    return self.constructor(**{name: child.generate_value() for name, child in self.children.items()})

  def validate(self, value):
    fields = value._asdict() if hasattr(value, "_asdict") else dict(value.items())
    if set(fields) != set(self.children):
      raise ValueError(f"{self.name}: expected fields {sorted(self.children)}, got {sorted(fields)}")
    return self.constructor(**{name: child.validate(fields[name]) for name, child in self.children.items()})
