"""Test-session setup shared by tests/ and third_party_parity/.

Two host CPU devices are forced before JAX is imported anywhere, so the pmap
trainer is exercised on more than one device; everything else runs on device 0.
"""
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


@pytest.fixture(scope="session", autouse=True)
def compilation_cache(tmp_path_factory):
  """One persistent XLA compilation cache for the whole session, subprocesses included.

  Many modules build the same small programs (a tiny run's evaluation,
  heuristics, search), and several tests run `run.py` in a subprocess; with
  the cache each program is compiled once per session.
  """
  import jax
  cache_dir = str(tmp_path_factory.mktemp("jax_cache"))
  options = {"jax_compilation_cache_dir": cache_dir,
             "jax_persistent_cache_min_compile_time_secs": 0.0,
             "jax_persistent_cache_min_entry_size_bytes": 0}
  for name, value in options.items():
    jax.config.update(name, value)
    os.environ[name.upper()] = str(value)
  yield
