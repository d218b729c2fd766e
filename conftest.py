"""Test-session setup shared by tests/ and third_party_parity/.

Two host CPU devices are forced before JAX is imported anywhere, so the pmap
trainer is exercised on more than one device; everything else runs on device 0.

No persistent XLA compilation cache: each process compiles what it runs.
"""
import gc
import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "ci",
    deadline=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
settings.register_profile("dev", deadline=None, max_examples=10)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="module", autouse=True)
def release_compiled_programs():
  """Drops JAX's compiled programs after each test module.

  Every compiled XLA:CPU program keeps its machine code in its own memory
  mappings, and the in-process training runs of some modules compile many; over
  the whole suite the mappings reached Linux's limit (vm.max_map_count, 65530)
  and the next compilation crashed the process. Modules share no compiled
  program, so releasing them between modules costs nothing.
  """
  yield
  import jax
  jax.clear_caches()
  gc.collect()
