"""`python -m purepi`: the same command line as `run.py` and the `purepi` console script."""
from purepi.cli.app import run

if __name__ == "__main__":
  run()
