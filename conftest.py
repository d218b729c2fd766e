"""Test-session setup shared by tests/ and third_party_parity/.

Two host CPU devices are forced before JAX is imported anywhere, so the pmap
trainer is exercised on more than one device; everything else runs on device 0.

No persistent XLA compilation cache in the test process itself (see
`release_compiled_programs`); the `run.py` subprocesses that tests start share
one for the session (`subprocess_environment`), since many of them compile the
same programs.
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


@pytest.fixture(scope="session")
def subprocess_environment(tmp_path_factory):
  """Environment for `run.py` subprocesses: this session's devices and a shared compilation cache.

  A subprocess that compiles a program another one already compiled loads it
  from the cache instead (the same executable, so the same results); the
  subprocesses are short-lived, so their mappings never accumulate.
  """
  environment = dict(os.environ)
  environment["JAX_COMPILATION_CACHE_DIR"] = str(tmp_path_factory.mktemp("jax_compilation_cache"))
  environment["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
  environment["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
  return environment


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
