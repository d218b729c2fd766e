"""README.md, WORKSPACE.md and docs/*.md against the code: commands, links, generated blocks.

Every command line the documents show (in code blocks and inline code) goes
through the parser that would run it, without running anything: `python run.py`
and `purepi` lines through flag parsing and `Config` validation, benchmark lines
through the benchmarks' own parser, pytest lines against the markers and paths
they name. A failure names the document and the line.
"""
import collections
import dataclasses
import importlib.util
import os
import re
import shlex
import tomllib

import pytest

from purepi import config as config_lib
from purepi.cli import app
from third_party_parity.benchmarks.__main__ import make_parser as benchmark_parser

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_PREFIXES = ("python run.py", "python -m purepi", "purepi --")
PREFIXES = RUN_PREFIXES + ("python -m third_party_parity.benchmarks", "pytest")
# Shell variables the documents use in loops, and a value of each that parses.
SHELL_VARIABLES = {"$i": "0"}
TRAINING_MODES = ("distill", "ppo")


def _load_tables():
  spec = importlib.util.spec_from_file_location("doc_tables", os.path.join(ROOT, "docs", "tables.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


TABLES = _load_tables()
DOCUMENTS = TABLES.documents()


@dataclasses.dataclass(frozen=True)
class Command:
  path: str
  line: int
  text: str

  def where(self):
    return f"{self.path}:{self.line}: {self.text}"


def _commands_in_line(text):
  """The command lines that start somewhere in `text` (a code line or an inline code span)."""
  text = text.split(" # ")[0].strip()
  starts = [match.start() for prefix in PREFIXES
            for match in re.finditer(re.escape(prefix) + r"(?=\s|$)" * (not prefix.endswith(" --")), text)
            if match.start() == 0 or text[match.start() - 1] in " ;&(|"]
  commands = []
  for start in sorted(set(starts)):
    command = re.split(r"\s*(?:;|&&|\|\||&)\s*(?=\S|$)", text[start:])[0].strip().rstrip("&; ")
    if command not in ("python run.py", "python -m purepi"):  # the bare name, as prose mentions it
      commands.append(command)
  return commands


def commands_in_document(path):
  """The command lines of one document (code blocks, continued lines joined; inline code spans)."""
  with open(os.path.join(ROOT, path)) as file:
    lines = file.read().split("\n")
  found, in_block, pending, pending_line = [], False, "", 0
  for number, line in enumerate(lines, start=1):
    if line.startswith("```"):
      in_block = not in_block
      continue
    if in_block:
      if not pending:
        pending_line = number
      pending += line.rstrip("\\").strip() + " "
      if line.rstrip().endswith("\\"):
        continue
      found += [Command(path, pending_line, text) for text in _commands_in_line(pending)]
      pending = ""
    else:
      for span in re.findall(r"`([^`]+)`", line):
        found += [Command(path, number, text) for text in _commands_in_line(span) if text == span.strip()]
  return found


COMMANDS = [command for path in DOCUMENTS for command in commands_in_document(path)]


def _run_arguments(command):
  text = command.text
  for prefix in RUN_PREFIXES:
    if text.startswith(prefix):
      text = text[len(prefix) - (2 if prefix.endswith("--") else 0):]
      break
  for variable, value in SHELL_VARIABLES.items():
    text = text.replace(variable, value)
  return shlex.split(text)


def run_commands():
  return [command for command in COMMANDS if command.text.startswith(RUN_PREFIXES)]


def parsed_run_commands():
  """`[(command, Config)]` of every run command but the help ones, from the repository root."""
  here = os.getcwd()
  os.chdir(ROOT)
  try:
    return [(command, app.parse_config(_run_arguments(command))) for command in run_commands()
            if not {"--help", "--helpfull"} & set(_run_arguments(command))]
  finally:
    os.chdir(here)


def test_the_documents_show_the_main_commands():
  texts = [command.text for command in COMMANDS]
  assert "python run.py --flagfile=distill.flags" in texts
  assert any(text.startswith("python run.py --flagfile=ppo.flags") for text in texts)
  assert any(text.startswith("python run.py --mode=pack") for text in texts)
  assert "pytest" in texts and 'pytest -m "not slow"' in texts


@pytest.mark.parametrize("command", run_commands(), ids=lambda command: f"{command.path}:{command.line}")
def test_every_run_command_parses_and_validates(command, monkeypatch):
  monkeypatch.chdir(ROOT)
  arguments = _run_arguments(command)
  if {"--help", "--helpfull"} & set(arguments):
    return
  try:
    config = app.parse_config(arguments)
  except Exception as error:  # noqa: BLE001: the message is the point
    pytest.fail(f"{command.where()}\n  does not parse: {error}")
  config_lib.validate_for_devices(config, num_devices=max(config.num_cpu_devices, 1))


def _run_identity(config):
  """What defines a training run: its settings but those a resume may change or its trainer never reads."""
  ignored = set(config_lib.RESUMABLE_CHANGES) | config_lib.settings_ignored_by(config.mode)
  return {name: value for name, value in dataclasses.asdict(config).items() if name not in ignored}


def test_training_commands_in_the_documents_never_share_a_workdir_with_another_run():
  """Following the documents in any order never resumes one run with another run's command."""
  by_workdir = collections.defaultdict(list)
  for command, config in parsed_run_commands():
    if config.mode in TRAINING_MODES:
      by_workdir[os.path.normpath(config.workdir)].append((command, config))
  for workdir, entries in by_workdir.items():
    first_command, first = entries[0]
    for command, config in entries[1:]:
      differing = sorted(name for name, value in _run_identity(config).items()
                         if _run_identity(first)[name] != value)
      assert not differing, (f"{command.where()}\n  trains another run in --workdir={workdir} than\n"
                             f"  {first_command.where()}\n  (they differ in {', '.join(differing)})")
      assert (config.num_seeds > 1) == (first.num_seeds > 1), (
          f"{command.where()}\n  and {first_command.where()}\n  use {workdir} as a single-seed and "
          "as a multi-seed workdir")


def _training_workdirs():
  workdirs = {}
  for _, config in parsed_run_commands():
    if config.mode in TRAINING_MODES:
      workdirs[os.path.normpath(config.workdir)] = config
  return workdirs


def test_what_the_documents_read_is_what_they_train_or_commit():
  """Each --checkpoint / --workdirs of a command is a workdir a documented command trains (one of
  its seeds), or a path in the repository; no command writes into a training workdir but its own."""
  trained = _training_workdirs()
  readable = set(trained)
  for workdir, config in trained.items():
    readable |= {os.path.join(workdir, f"seed_{config.seed + k}") for k in range(config.num_seeds)}
  for command, config in parsed_run_commands():
    named = ([config.checkpoint] if config.checkpoint else []) + list(config.workdirs)
    for path in named:
      path = os.path.normpath(path)
      assert path in readable or os.path.exists(os.path.join(ROOT, path)), (
          f"{command.where()}\n  reads {path}, which no command of the documents trains")
    if config.mode not in TRAINING_MODES and "--workdir" in command.text:
      assert os.path.normpath(config.workdir) not in readable, (
          f"{command.where()}\n  writes into the training workdir {config.workdir}")


def _markers():
  with open(os.path.join(ROOT, "pyproject.toml"), "rb") as file:
    declared = tomllib.load(file)["tool"]["pytest"]["ini_options"].get("markers", [])
  return {marker.split(":")[0].strip() for marker in declared} | {"hypothesis"}  # hypothesis's own


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.text.startswith("pytest")],
                         ids=lambda command: f"{command.path}:{command.line}")
def test_every_pytest_command_names_existing_markers_and_paths(command):
  arguments = shlex.split(command.text)[1:]
  expects_value = None
  for argument in arguments:
    if expects_value:
      if expects_value == "-m":
        for marker in re.findall(r"\w+", argument):
          assert marker in _markers() | {"not", "and", "or"}, f"{command.where()}\n  unknown marker {marker}"
      expects_value = None
    elif argument in ("-m", "-n", "-k", "--durations"):
      expects_value = argument
    elif not argument.startswith("-"):
      assert os.path.exists(os.path.join(ROOT, argument.split("::")[0])), (
          f"{command.where()}\n  no such path: {argument}")


@pytest.mark.parametrize("command", [c for c in COMMANDS if "third_party_parity.benchmarks" in c.text],
                         ids=lambda command: f"{command.path}:{command.line}")
def test_every_benchmark_command_parses(command):
  arguments = shlex.split(command.text)[3:]
  try:
    benchmark_parser().parse_args(arguments)
  except SystemExit:
    pytest.fail(f"{command.where()}\n  is not a benchmark command")


LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def _anchors(path):
  with open(path) as file:
    headings = [line.lstrip("#").strip() for line in file if line.startswith("#")]
  return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def broken_links(path):
  """'path:line: ...' for each relative link or image of a document whose file or heading is missing."""
  broken = []
  with open(os.path.join(ROOT, path)) as file:
    for number, line in enumerate(file, start=1):
      for target in LINK.findall(line):
        if re.match(r"[a-z]+:", target):
          continue
        file_part, _, anchor = target.partition("#")
        resolved = (os.path.join(ROOT, path) if not file_part
                    else os.path.normpath(os.path.join(ROOT, os.path.dirname(path), file_part)))
        if not os.path.exists(resolved):
          broken.append(f"{path}:{number}: {target} does not exist")
        elif anchor and resolved.endswith(".md") and anchor not in _anchors(resolved):
          broken.append(f"{path}:{number}: {target}: no heading '{anchor}'")
  return broken


def test_every_relative_link_and_image_exists():
  broken = [problem for path in DOCUMENTS for problem in broken_links(path)]
  assert not broken, "\n".join(broken)


def test_the_checks_name_the_file_and_line_of_what_is_wrong(tmp_path, monkeypatch):
  """A stale command, a missing file and a table that differs from its source are each caught."""
  monkeypatch.chdir(ROOT)
  document = tmp_path / "stale.md"
  document.write_text("# Stale\n\n```bash\npython run.py --flagfile=distill.flags --num_simulation=4\n```\n"
                      "See [the plan](missing.png) and [this](#nowhere).\n\n"
                      "<!-- generated: flags resumable -->\n`--edited_by_hand`\n<!-- end generated -->\n")
  (command,) = commands_in_document(str(document))
  assert (command.line, command.text) == (4, "python run.py --flagfile=distill.flags --num_simulation=4")
  with pytest.raises(Exception, match="num_simulation"):
    app.parse_config(_run_arguments(command))
  assert broken_links(str(document)) == [f"{document}:6: missing.png does not exist",
                                         f"{document}:6: #nowhere: no heading 'nowhere'"]
  text, problems = TABLES.regenerate(str(document))
  assert problems == [f"{document}:9: the block 'flags resumable' differs from what its files give "
                      "(python docs/tables.py rewrites it)"]
  assert "`--num_iterations`" in text and "--edited_by_hand" not in text


def test_generated_blocks_and_result_files_agree():
  """The tables of README.md and docs/ are what docs/tables.py gives from the committed files."""
  problems = TABLES.check()
  assert not problems, "\n".join(problems)


def test_the_modes_table_names_every_mode():
  with open(os.path.join(ROOT, "README.md")) as file:
    readme = file.read()
  section = readme.split("## Modes and flag files")[1].split("\n## ")[0]
  for mode in config_lib.MODES:
    assert f"--mode={mode}" in section or f"{mode}.flags" in section, f"README's modes table lacks {mode}"


def test_readme_is_a_guide_not_a_notebook():
  with open(os.path.join(ROOT, "README.md")) as file:
    lines = file.read().split("\n")
  assert len(lines) <= 250, f"README.md has {len(lines)} lines (at most 250)"
  first_table = next(number for number, line in enumerate(lines, start=1) if line.startswith("|"))
  assert first_table <= 60, f"README.md's first table starts at line {first_table} (at most 60)"
  for path in DOCUMENTS:
    with open(os.path.join(ROOT, path)) as file:
      for number, line in enumerate(file, start=1):
        assert not re.search(r"(?<![:\d])\b([01]?\d|2[0-3]):[0-5]\d\b(?!:)", line.replace("::", "")), (
            f"{path}:{number}: a time of day: {line.strip()}")
        assert not re.search(r"\b(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|\w+teenth"
                             r"|\d+(st|nd|rd|th)|this|earlier|previous|next|last|later) sessions?\b",
                             line, re.I), (
            f"{path}:{number}: names a working session: {line.strip()}")


def python_blocks(path):
  """`(line, code)` of each ```python block of a document."""
  with open(os.path.join(ROOT, path)) as file:
    text = file.read()
  return [(text[:match.start()].count("\n") + 2, match.group(1))
          for match in re.finditer(r"^```python\n(.*?)^```", text, re.M | re.S)]


PYTHON_BLOCKS = [(path, line, code) for path in DOCUMENTS for line, code in python_blocks(path)]


@pytest.mark.slow
@pytest.mark.optimized_xla
@pytest.mark.parametrize("path, line, code", PYTHON_BLOCKS, ids=[f"{p}:{n}" for p, n, _ in PYTHON_BLOCKS])
def test_every_python_block_runs(path, line, code, monkeypatch, capsys):
  """Each Python example of the documents runs as shown, from the repository root."""
  monkeypatch.chdir(ROOT)
  exec(compile(code, f"{path}:{line}", "exec"), {"__name__": "__docs__"})
  assert capsys.readouterr().out.strip(), f"{path}:{line} printed nothing"
