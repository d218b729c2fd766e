"""Running a trainer: the shared update machinery, devices, workdir files, checkpoints and the loop."""
