"""purepi's single entry point: `python run.py --flagfile=distill.flags`.

The flags and modes are `purepi/cli/app.py`'s; `python run.py --helpfull` lists them.
"""
from purepi.cli.app import run

if __name__ == "__main__":
  run()
