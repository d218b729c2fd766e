"""The plan page (`plan.html`) in a real browser: headless Chromium, driven by Playwright.

A page of a real pack opens with no console error, draws one solid per placed box, shows the load
as it stands after step k, names a clicked box, shows names as written (never run as markup), and
a plan with no box placed still opens and says so. Each test saves a screenshot of what it saw.
"""
import subprocess
import sys
from pathlib import Path

import pytest

from docs.screenshot import opened_page
from purepi import planner
from purepi.policies.load_plan import LoadPlan

pytestmark = pytest.mark.slow
# Names a page must show as written: markup, quotes, an ampersand, letters beyond ASCII.
TRICKY_NAMES = ('<img src=x onerror="window.injected = 1">', "crate \"A\" & 'B'", "Ölfass für Straße",
                "</script><script>window.injected = 2</script>")
ROWS = [(TRICKY_NAMES[0], 600, 400, 400, 6), (TRICKY_NAMES[1], 500, 400, 300, 5),
        (TRICKY_NAMES[2], 500, 500, 700, 4), (TRICKY_NAMES[3], 1200, 800, 300, 3),
        ("pallet", 1200, 1000, 900, 4)]
CONTAINER = (2400, 1600, 1500)
SOLIDS_SHOWN = ("document.getElementById('scene').data.filter((trace) => trace.type === 'mesh3d')"
                ".reduce((count, trace) => count + trace.i.length / 12, 0)")
SOLIDS_IN_SCENE = ("document.getElementById('scene').data.filter((trace) => trace.type === 'mesh3d')"
                   ".reduce((count, trace) => count + trace.x.length / 8, 0)")


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
  """A real pack of `ROWS` by the shipped real-load network (greedy) and its page."""
  plan = planner.pack(ROWS, container_dims=CONTAINER, policy="greedy")
  assert 0 < len(plan.placements) and plan.unplaced
  return plan, plan.to_html(tmp_path_factory.mktemp("page") / "plan.html")


def test_the_page_draws_one_solid_per_placed_box_and_steps_through_the_loading_order(packed, tmp_path):
  plan, path = packed
  total = len(plan.placements)
  with opened_page(path) as (page, _):
    assert page.evaluate(SOLIDS_IN_SCENE) == total
    assert page.evaluate(SOLIDS_SHOWN) == total
    assert f"{plan.utilization:.1%}" in page.title()
    for step in (3, 0, total):
      page.locator("#step").fill(str(step))
      assert page.evaluate(SOLIDS_SHOWN) == step
      label = page.text_content("#step-label")
      assert label.startswith(f"step {step} of {total}")
      if step:
        placed = plan.placements[step - 1]
        assert label == f"step {step} of {total}: {placed.name} #{placed.copy}"
    page.locator("#step").fill("3")
    page.click("#step-back")
    assert page.text_content("#step-label").startswith(f"step 2 of {total}")
    assert page.evaluate(SOLIDS_SHOWN) == 2
    page.click("#step-forward")
    page.click("#step-forward")
    assert page.evaluate(SOLIDS_SHOWN) == 4
    page.screenshot(path=str(tmp_path / "plan_page.png"))
  assert (tmp_path / "plan_page.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_link_to_a_step_opens_there(packed):
  plan, path = packed
  with opened_page(path, fragment="#step=2") as (page, _):
    assert page.evaluate(SOLIDS_SHOWN) == 2
    assert page.text_content("#step-label").startswith(f"step 2 of {len(plan.placements)}")


def test_names_show_as_written_and_never_run(packed):
  plan, path = packed
  with opened_page(path) as (page, _):
    assert page.evaluate("window.injected") is None
    legend = page.text_content(".legend")
    for name in {placement.name for placement in plan.placements}:
      assert name in legend
    # A click on the second box of the first kind's mesh (its vertices 8 to 15) names that box.
    first_kind = [placement for placement in plan.placements if placement.name == plan.placements[0].name]
    if len(first_kind) > 1:
      page.evaluate("document.getElementById('scene').emit('plotly_click', "
                    "{points: [{curveNumber: 3, pointNumber: 9}]})")
      info = page.text_content("#box-info")
      assert info.startswith(f"{first_kind[1].name} #{first_kind[1].copy}: step {first_kind[1].order} of")
      assert f"orientation {first_kind[1].orientation}" in info
    not_placed = page.text_content("table")
    for placement in plan.unplaced:
      assert placement.name in not_placed


def test_a_plan_with_no_box_placed_opens_and_says_so(packed, tmp_path):
  plan, _ = packed
  empty = LoadPlan([], plan.placements[:2] + plan.unplaced, 0.0, plan.container, "greedy network", states=None)
  with opened_page(empty.to_html(tmp_path / "empty.html")) as (page, _):
    assert page.text_content("#summary").startswith("No box was placed")
    assert page.text_content("#step-label") == "step 0 of 0: the empty container"
    assert page.evaluate(SOLIDS_IN_SCENE) == 0


def test_the_screenshot_command_of_the_docs(tmp_path):
  """docs/results/example_plan/provenance.md's command, on the committed plan.json."""
  root = Path(__file__).resolve().parent.parent
  result = subprocess.run([sys.executable, "docs/screenshot.py", "docs/results/example_plan/plan.json",
                           str(tmp_path / "plan_page.png")], cwd=root, capture_output=True, text=True)
  assert result.returncode == 0, result.stderr
  assert (tmp_path / "plan_page.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
