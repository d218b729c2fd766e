"""A screenshot of a load plan's page in headless Chromium, and the browser the page tests use.

  python docs/screenshot.py docs/results/example_plan/plan.json docs/results/example_plan/plan_page.png

writes the page of the plan a `plan.json` holds (`LoadPlan.from_json(...).to_html`) into a temporary
folder, opens it in Chromium (Debian's `chromium`, or `$PUREPI_CHROMIUM`) through Playwright, waits
until the scene is drawn and saves the window as a PNG. Any error the page logs ends the command.
"""
import contextlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

# Headless with no GPU (WebGL in software), and nothing that reaches for the network: the page
# needs none, and a closed network refuses Chromium's background connections noisily.
CHROMIUM_ARGUMENTS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader",
                      "--disable-background-networking", "--disable-component-update", "--disable-sync",
                      "--no-first-run")
WINDOW = {"width": 1280, "height": 900}


def chromium_path():
  """Chromium's executable, or None when this machine has none."""
  return os.environ.get("PUREPI_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


class PageErrors(AssertionError):
  """The page logged errors to the console, or threw."""


@contextlib.contextmanager
def opened_page(html_path, fragment: str = ""):
  """Yields `(page, seconds)`: a Playwright page of `html_path` once its scene is drawn, and the
  seconds from asking for the page to then. Raises PageErrors if the page logged an error."""
  from playwright.sync_api import sync_playwright  # the `test` extra

  executable = chromium_path()
  if executable is None:
    raise FileNotFoundError("no chromium: install Debian's chromium package or set PUREPI_CHROMIUM")
  errors = []
  with sync_playwright() as playwright:
    browser = playwright.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGUMENTS))
    try:
      page = browser.new_page(viewport=WINDOW)
      page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
      page.on("pageerror", lambda error: errors.append(str(error)))
      start = time.perf_counter()
      page.goto(Path(html_path).resolve().as_uri() + fragment)
      page.wait_for_selector("body[data-ready=true]", state="attached", timeout=30_000)
      yield page, time.perf_counter() - start
    finally:
      browser.close()
  if errors:
    raise PageErrors(f"{html_path}: the page logged {len(errors)} error(s): {errors}")


def main(plan_json, png_path):
  from purepi.policies.load_plan import LoadPlan

  with tempfile.TemporaryDirectory() as directory:
    page_path = LoadPlan.from_json(plan_json).to_html(Path(directory) / "plan.html")
    with opened_page(page_path) as (page, _):
      page.screenshot(path=str(png_path))
  print(f"wrote {png_path}")


if __name__ == "__main__":
  if len(sys.argv) != 3:
    sys.exit("usage: python docs/screenshot.py PLAN_JSON PNG_PATH")
  sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
  main(*sys.argv[1:])
