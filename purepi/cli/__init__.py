"""The command line (`run.py`): flags, mode dispatch and the tools behind each mode."""
