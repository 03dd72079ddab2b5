"""Running a command in a subprocess while sampling the memory of its whole process tree.

Beam's DirectRunner in multi-processing mode starts worker processes; a job's memory is the sum
over the process and all its descendants, sampled with psutil every `interval` seconds.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence

import psutil


@dataclasses.dataclass(frozen=True)
class ProcessRun:
    """How a command ran: exit code, wall time, peak memory of its tree, and its output."""

    returncode: int
    seconds: float
    peak_rss_bytes: int  # peak of the sum of RSS over the process and its descendants
    peak_processes: int  # processes alive at that peak
    stdout: str
    stderr: str

    def check(self, what: str) -> ProcessRun:
        """Returns self, or raises with the last lines of stderr when the command failed."""
        if self.returncode != 0:
            tail = " | ".join(self.stderr.strip().splitlines()[-3:])
            raise RuntimeError(f"{what} exited with {self.returncode}: {tail[-600:]}")
        return self


class PeakRssSampler:
    """A thread that records the peak summed RSS of a process and its descendants."""

    def __init__(self, pid: int, interval: float = 0.2):
        self._root = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="peak-rss", daemon=True)
        self.peak_bytes = 0
        self.peak_processes = 0

    def __enter__(self) -> PeakRssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> None:
        """Takes one sample now (processes that end mid-sample are skipped)."""
        try:
            processes = [self._root, *self._root.children(recursive=True)]
        except psutil.Error:
            return
        total = count = 0
        for process in processes:
            try:
                total += process.memory_info().rss
                count += 1
            except psutil.Error:
                continue
        if total > self.peak_bytes:
            self.peak_bytes, self.peak_processes = total, count

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self._interval)


def quiet_env(**extra: str) -> dict[str, str]:
    """This process's environment for a child, without TensorFlow's and Python's start-up
    chatter, plus `extra` variables."""
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore", **extra}


def run_sampled(
    command: Sequence[str],
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    timeout: float | None = None,
    interval: float = 0.2,
) -> ProcessRun:
    """Runs `command` to completion, sampling its process tree's memory every `interval` s.

    Args:
        command: the program and its arguments.
        env: the environment (None inherits this process's).
        cwd: the working folder.
        timeout: seconds after which the command's process group is killed and TimeoutError
            raised.
        interval: seconds between memory samples.
    """
    started = time.monotonic()
    # A session of its own, so that a timeout can stop the command and every worker it started.
    process = subprocess.Popen(
        list(command),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        start_new_session=True,
    )
    with PeakRssSampler(process.pid, interval) as sampler:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise TimeoutError(f"{command[0]} ran longer than {timeout:.0f} s") from None
    return ProcessRun(
        returncode=process.returncode,
        seconds=time.monotonic() - started,
        peak_rss_bytes=sampler.peak_bytes,
        peak_processes=sampler.peak_processes,
        stdout=stdout,
        stderr=stderr,
    )
