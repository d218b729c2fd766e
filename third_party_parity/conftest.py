"""The parity suite needs the reference libraries, which only the `parity` extra installs.

Without them `pytest` still runs `tests/` and leaves this folder out with one
line saying why. CI installs the extra and sets PUREPI_REQUIRE_PARITY=1, so
there a missing library is an error, never a silent skip.
"""
import importlib.util
import os

import pytest

MISSING = [name for name in ("mctx", "jumanji") if importlib.util.find_spec(name) is None]
REASON = (f"third_party_parity/ skipped: the parity suite needs {' and '.join(MISSING)} "
          "(pip install -e '.[test,parity]')")

if MISSING:
  if os.environ.get("PUREPI_REQUIRE_PARITY"):
    raise pytest.UsageError(f"PUREPI_REQUIRE_PARITY is set, but {REASON}")
  collect_ignore_glob = ["*.py", "benchmarks/*.py"]

  def pytest_report_header(config):
    del config
    return REASON

  def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(REASON, yellow=True)
