"""Test-session setup shared by tests/ and third_party_parity/.

Two host CPU devices are forced before JAX is imported anywhere, so the pmap
trainer is exercised on more than one device; everything else runs on device 0.
XLA compiles without most of its optimisations (`JAX_DISABLE_MOST_OPTIMIZATIONS`):
the tests' programs are small, so compiling them is most of the suite's time.

The session shares one persistent XLA compilation cache, in a temporary
directory removed at exit, between this process and the `run.py` subprocesses
that tests start (they inherit the environment): the tiny training runs of
many tests, each seed of a multi-seed run and each restarted subprocess compile
the same programs, and JAX then loads them (the same executables, so the same
results) instead of compiling again. Every program is stored, however quickly it
compiled (JAX's default keeps only those over a second): a tiny run compiles
hundreds of small programs, and a second run of tests/test_faults.py's 6
iterations took 19 s with all of them stored against 30 s without (the 2-core
Intel machine of 2026-12-05).
"""
import atexit
import gc
import os
import shutil
import tempfile

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="purepi_tests_jax_cache_")
  atexit.register(shutil.rmtree, os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
# The suite's programs are small and run briefly: XLA's optimisation passes cost more than they
# save. Without them the fast tier took 150 s against 188 s (2-core Intel machine, 2026-12-07), and
# every test passes the same, the parity suite's bit-for-bit comparisons included (both sides are
# compiled alike). The subprocesses the tests start inherit it.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

from docs.screenshot import chromium_path  # noqa: E402

settings.register_profile(
    "ci",
    deadline=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
settings.register_profile("dev", deadline=None, max_examples=10)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def xla_optimisations(request):
  """Tests marked `optimized_xla` compile with XLA's optimisations: their programs run long enough
  (episodes of 50 items, the anytime packer's time limit, timed sizes) that the optimised code
  saves more than its compilation costs (without them the 50-item parity episodes took 242 s)."""
  if request.node.get_closest_marker("optimized_xla") is None:
    yield
    return
  import jax
  jax.config.update("jax_disable_most_optimizations", False)
  try:
    yield
  finally:
    jax.config.update("jax_disable_most_optimizations", True)


@pytest.fixture(scope="session")
def subprocess_environment():
  """Environment for `run.py` subprocesses: this session's devices and compilation cache."""
  return dict(os.environ)


@pytest.fixture(scope="module", autouse=True)
def release_compiled_programs():
  """Drops JAX's compiled programs after each test module.

  Every compiled XLA:CPU program keeps its machine code in its own memory
  mappings, and the in-process training runs of some modules compile many; over
  the whole suite the mappings reached Linux's limit (vm.max_map_count, 65530)
  and the next compilation crashed the process. A later module that needs one
  of the released programs loads it from the persistent cache.
  """
  yield
  import jax
  jax.clear_caches()
  gc.collect()


# The browser tests of the plan page need Chromium (Debian's `chromium`; docs/screenshot.py finds
# it). Without one they are left out with one line saying why; CI installs it and sets
# PUREPI_REQUIRE_BROWSER=1, so there a missing browser is an error, never a silent skip.
BROWSER_TESTS = "tests/test_plan_page_browser.py"
NO_BROWSER = None if chromium_path() else f"{BROWSER_TESTS} left out: no chromium on this machine (apt install chromium)"
if NO_BROWSER and os.environ.get("PUREPI_REQUIRE_BROWSER"):
  raise pytest.UsageError(f"PUREPI_REQUIRE_BROWSER is set, but {NO_BROWSER}")
collect_ignore = [BROWSER_TESTS] if NO_BROWSER else []


def pytest_report_header(config):
  del config
  return NO_BROWSER


def pytest_terminal_summary(terminalreporter):
  if NO_BROWSER:
    terminalreporter.write_line(NO_BROWSER, yellow=True)
