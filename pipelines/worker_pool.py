"""A pool of Python SDK workers beside a portable runner (Prism, Flink, Spark job servers).

With `--environment_type=EXTERNAL --environment_config=localhost:PORT` a portable runner asks
the pool on PORT for a worker per environment, instead of running the Python work inside the
launching process (LOOPBACK). The pool starts each worker with the `python` it finds first on
PATH, so this module puts the running interpreter's folder there: the workers then have
idphoto and the pinned packages.

    python -m pipelines.worker_pool --port 50000 -- idphoto ingest ... --runner=PrismRunner ...
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

_START_SECONDS = 60.0


@contextlib.contextmanager
def sdk_worker_pool(port: int, log=subprocess.DEVNULL) -> Iterator[str]:
    """Runs an SDK worker pool on 127.0.0.1:`port` for the block; yields its address."""
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    pool = subprocess.Popen(
        [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
         f"--service_port={port}"],
        env=env, stdout=log, stderr=log, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_for_port(port, pool)
        yield f"localhost:{port}"
    finally:
        pool.terminate()
        try:
            pool.wait(10)
        except subprocess.TimeoutExpired:
            pool.kill()
            pool.wait()


def _wait_for_port(port: int, pool: subprocess.Popen) -> None:
    deadline = time.monotonic() + _START_SECONDS
    while time.monotonic() < deadline:
        if pool.poll() is not None:
            raise RuntimeError(f"the SDK worker pool exited with {pool.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.2)
    raise RuntimeError(f"the SDK worker pool did not listen on port {port} within 60 s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=50000, help="the pool's port")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("a command to run is needed after --")
    with sdk_worker_pool(args.port):
        return subprocess.run(command).returncode


if __name__ == "__main__":
    sys.exit(main())
