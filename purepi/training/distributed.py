"""Training across processes and machines on JAX's distributed runtime.

One process runs per host (or per accelerator); `initialize` joins them with
`jax.distributed.initialize`, after which `jax.devices()` lists every device of
every process and a `jax.pmap` over that list runs one program on all of them:
each process feeds and reads only its own devices' rows, and the collectives
(`lax.pmean` of the gradients, `lax.psum` of the metrics) span every device.
On the CPU the collectives go through gloo, JAX's default there.

JAX's runtime aborts the process (a C++ fatal error, no Python exception) when
a process cannot reach the coordinator or when fewer processes than announced
join. `rendezvous` runs first, in plain Python on the coordinator's port, so
that those mistakes end, within `--distributed_timeout_s`, in one line naming
the address and the expected number of processes.
"""
import socket
import time

import jax
import numpy as np

from purepi.errors import UsageError

AUTO = "auto"  # --coordinator_address=auto: JAX detects the cluster (SLURM, Open MPI, Kubernetes, TPU pods)
_HELLO = "purepi-rendezvous"


def initialize(config) -> None:
  """Joins the processes of a multi-process run; nothing for a single process.

  `--coordinator_address=HOST:PORT` with `--num_processes` and `--process_id`
  names the processes explicitly; `auto` leaves all three to JAX's cluster
  detection (its own errors then apply).
  """
  address = config.coordinator_address
  if not address:
    return
  timeout_s = config.distributed_timeout_s
  if address == AUTO:
    jax.distributed.initialize(initialization_timeout=timeout_s)
    return
  rendezvous(address, config.num_processes, config.process_id, timeout_s)
  jax.distributed.initialize(address, num_processes=config.num_processes,
                             process_id=config.process_id, initialization_timeout=timeout_s)


def split_address(address: str):
  """`"host:port"` (or `"[v6 address]:port"`) -> `(host, port)`; UsageError if it is not one."""
  host, separator, port = address.rpartition(":")
  if not separator or not host or not port.isdigit() or not 0 < int(port) < 65536:
    raise UsageError(f"--coordinator_address={address!r} is not HOST:PORT (or 'auto')")
  return host.strip("[]"), int(port)


def rendezvous(address: str, num_processes: int, process_id: int, timeout_s: float) -> None:
  """Checks, before JAX's runtime starts, that all `num_processes` processes reach process 0.

  Process 0 listens on the coordinator's port and waits for the others; each
  other process connects (retrying until the deadline) and says its id and the
  number of processes it was started with. Process 0 answers `ok` to all once
  every id from 1 to `num_processes - 1` has arrived with the same count, or an
  error line to every process that did arrive. The port is released before
  `jax.distributed.initialize` binds it.

  Raises:
    UsageError: naming the address and the expected number of processes, when
      the coordinator cannot be reached, when processes are missing at the
      deadline, or when the processes disagree on the count or share an id.
  """
  host, port = split_address(address)
  deadline = time.monotonic() + timeout_s
  if process_id == 0:
    _gather_processes(address, port, num_processes, deadline, timeout_s)
  else:
    _report_to_coordinator(address, host, port, num_processes, process_id, deadline, timeout_s)


def _gather_processes(address, port, num_processes, deadline, timeout_s):
  try:
    if socket.has_dualstack_ipv6():
      server = socket.create_server(("", port), family=socket.AF_INET6, dualstack_ipv6=True)
    else:
      server = socket.create_server(("", port))
  except OSError as error:
    raise UsageError(f"process 0 cannot listen on {address} ({error.strerror}): choose another "
                     "--coordinator_address port") from None
  arrived = {}  # process id -> connection
  problem = None
  with server:
    while len(arrived) < num_processes - 1 and problem is None:
      remaining = deadline - time.monotonic()
      if remaining <= 0:
        missing = sorted(set(range(1, num_processes)) - set(arrived))
        problem = (f"only {len(arrived) + 1} of the {num_processes} processes (--num_processes="
                   f"{num_processes}) reached the coordinator at {address} within {timeout_s:g} s; "
                   f"missing --process_id {', '.join(map(str, missing))}")
        break
      server.settimeout(remaining)
      try:
        connection, _ = server.accept()
      except socket.timeout:
        continue
      connection.settimeout(max(deadline - time.monotonic(), 1.0))
      try:
        words = connection.makefile().readline().split()
      except OSError:
        connection.close()
        continue
      if len(words) != 3 or words[0] != _HELLO:
        connection.close()  # not one of ours (a port scanner, a stale client)
        continue
      their_id, their_count = int(words[1]), int(words[2])
      if their_count != num_processes:
        problem = (f"process {their_id} was started with --num_processes={their_count}, process 0 "
                   f"with --num_processes={num_processes} (coordinator {address})")
      elif their_id in arrived or not 0 < their_id < num_processes:
        problem = (f"two processes were started with --process_id={their_id} (coordinator {address}, "
                   f"{num_processes} processes expected)")
      if problem is None:
        arrived[their_id] = connection
      else:
        _answer(connection, "error " + problem)
        _wait_for_close(connection)
    for connection in arrived.values():
      _answer(connection, "ok" if problem is None else "error " + problem)
    for connection in arrived.values():
      _wait_for_close(connection)
  if problem is not None:
    raise UsageError(problem)


def _report_to_coordinator(address, host, port, num_processes, process_id, deadline, timeout_s):
  unreachable = UsageError(
      f"process {process_id} cannot reach the coordinator (process 0) at {address} within "
      f"{timeout_s:g} s; {num_processes} processes expected: start process 0 with "
      f"--coordinator_address={address} --num_processes={num_processes}, or check the address")
  while True:
    try:
      connection = socket.create_connection((host, port), timeout=max(deadline - time.monotonic(), 0.1))
      break
    except OSError:
      if time.monotonic() >= deadline:
        raise unreachable from None
      time.sleep(0.2)
  with connection:
    # Process 0 answers when the last process arrives, or at its own deadline.
    connection.settimeout(max(deadline - time.monotonic(), 0.0) + 10.0)
    try:
      connection.sendall(f"{_HELLO} {process_id} {num_processes}\n".encode())
      answer = connection.makefile().readline().strip()
    except OSError:
      answer = ""
  if answer != "ok":
    if answer.startswith("error "):
      raise UsageError(answer[len("error "):])
    raise UsageError(f"the coordinator at {address} did not confirm all {num_processes} processes "
                     f"within {timeout_s:g} s")


def _answer(connection, line):
  try:
    connection.sendall((line + "\n").encode())
  except OSError:
    pass


def _wait_for_close(connection):
  """Lets the other side close first, so that the port is free again for JAX's service."""
  try:
    connection.settimeout(5.0)
    connection.recv(1)
  except OSError:
    pass
  connection.close()


def is_primary() -> bool:
  """True in the process that writes the run's files (metrics, plots, renders, config.json)."""
  return jax.process_index() == 0


def any_process(signal_number):
  """The largest of the processes' `signal_number`s (None where none had one), agreed by all.

  Each process sees its own signals; a checkpoint save is collective, so all
  of them must decide together to stop after this iteration.
  """
  if jax.process_count() == 1:
    return signal_number
  from jax.experimental import multihost_utils
  numbers = multihost_utils.process_allgather(np.asarray(signal_number or 0, np.int32))
  largest = int(np.max(numbers))
  return largest or None


def barrier(name: str) -> None:
  """Waits until every process reaches the barrier called `name` (nothing with one process)."""
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils
    multihost_utils.sync_global_devices(name)
