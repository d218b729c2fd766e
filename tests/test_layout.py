"""The folder layout is the architecture: packages stack in one order, no import cycles, small modules.

The order, bottom first, is `LAYERS` (also written in `purepi/__init__.py`): a
package imports only from itself and from packages below it. Every `import`
statement counts, including those inside functions.
"""
import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "purepi"
LAYERS = (
    ("purepi.masking", "purepi.errors", "purepi.config", "purepi.devices"),
    ("purepi.env",),
    ("purepi.search",),
    ("purepi.networks",),
    ("purepi.policies",),
    ("purepi.evaluation",),
    ("purepi.training",),
    ("purepi.agents",),
    ("purepi.anytime",),
    ("purepi.planner",),
    ("purepi.cli", "purepi.__main__"),
)
LAYER_OF = {name: depth for depth, names in enumerate(LAYERS) for name in names}
MAX_MODULE_LINES = 300
LONG_MODULE_REASON = "Longer than 300 lines because"


def module_name(path: Path) -> str:
  parts = path.relative_to(ROOT).with_suffix("").parts
  return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, known_modules=()):
  """Every module an import statement in `path` names.

  `from package import name` names `package.name` when that is one of
  `known_modules`, else `package` itself.
  """
  tree = ast.parse(path.read_text())
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
      assert not node.level, f"{path}: relative import"
      for alias in node.names:
        submodule = f"{node.module}.{alias.name}"
        yield submodule if submodule in known_modules else node.module


def purepi_modules():
  return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def import_graph():
  """`{module: set of purepi modules it imports}` over every module of purepi."""
  modules = set(purepi_modules()) - {"purepi"}  # the root package imports nothing
  return {name: {imported for imported in imported_modules(path, modules)
                 if imported in modules and imported != name}
          for name, path in purepi_modules().items()}


def layer(module: str) -> int:
  parts = module.split(".")
  for length in range(len(parts), 0, -1):
    if ".".join(parts[:length]) in LAYER_OF:
      return LAYER_OF[".".join(parts[:length])]
  raise AssertionError(f"{module} is in no layer of tests/test_layout.py's LAYERS")


def test_every_package_and_top_module_has_a_layer():
  for name in purepi_modules():
    if name != "purepi":
      layer(name)


def test_packages_import_only_downwards():
  wrong = [f"{module} (layer {layer(module)}) imports {imported} (layer {layer(imported)})"
           for module, imports in import_graph().items() if module != "purepi"
           for imported in imports if layer(imported) > layer(module)]
  assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
  graph = import_graph()
  visiting, done = [], set()

  def visit(module):
    if module in done:
      return
    assert module not in visiting, "import cycle: " + " -> ".join(visiting[visiting.index(module):] + [module])
    visiting.append(module)
    for imported in sorted(graph[module]):
      visit(imported)
    visiting.pop()
    done.add(module)

  for module in sorted(graph):
    visit(module)


@pytest.mark.parametrize("package", [name for names in LAYERS for name in names])
@pytest.mark.slow
def test_each_package_imports_alone_and_loads_only_lower_layers(package):
  program = (f"import sys, json; import {package}; "
             "print(json.dumps(sorted(m for m in sys.modules if m.startswith('purepi.'))))")
  result = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True)
  assert result.returncode == 0, result.stderr
  loaded = json.loads(result.stdout.splitlines()[-1])
  above = [module for module in loaded if layer(module) > layer(package)]
  assert not above, f"importing {package} loads {above}"


def test_modules_are_short_or_say_why():
  long_without_reason = []
  for path in sorted(list(PACKAGE.rglob("*.py")) + list((ROOT / "third_party_parity").rglob("*.py"))):
    num_lines = len(path.read_text().splitlines())
    docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
    if num_lines > MAX_MODULE_LINES and LONG_MODULE_REASON not in docstring:
      long_without_reason.append(f"{path.relative_to(ROOT)}: {num_lines} lines")
  assert not long_without_reason, (
      f"over {MAX_MODULE_LINES} lines without '{LONG_MODULE_REASON} ...' in the module docstring: "
      + ", ".join(long_without_reason))


def test_benchmarks_import_no_test_module():
  for path in (ROOT / "third_party_parity" / "benchmarks").rglob("*.py"):
    for imported in imported_modules(path):
      leaf = imported.split(".")[-1]
      assert not (leaf.startswith("test_") or imported.split(".")[0] == "tests"), (
          f"{path.relative_to(ROOT)} imports the test module {imported}")
