"""Start-up noise from TensorFlow and Beam, kept off the terminal.

TensorFlow's C++ runtime writes lines straight to file descriptor 2 on import and on its first
look for GPUs, before its log level applies: that oneDNN is on, which CPU instructions it was
built for, that no CUDA driver was found and that cuInit failed. Beam's local workers, separate
processes writing to the same descriptor, repeat those lines each and add their own (a missing
optional BigQuery client, a missing `semi_persistent_directory`, flags they do not parse). None
is actionable for a user, on a CPU machine or a GPU one, and an ingest printed some twenty of
them before its summary. While a command runs inside `filtered_stderr()`, descriptor 2 — which
child processes inherit — is a pipe; a thread copies every line that is not one of those to the
real stderr, so real errors and tracebacks still show.

Written by hand: TensorFlow's and Beam's log levels do not reach these lines (they are printed
before logging is set up, or by other processes), so no logging setting removes them.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator

_NOISE = re.compile(
    rb"absl::InitializeLog\(\) is called|oneDNN custom operations are on|"
    rb"Could not find cuda drivers|failed call to cuInit|cpu_feature_guard|"
    rb"This TensorFlow binary is optimized|To enable the following instructions|"
    rb"rebuild TensorFlow with the appropriate compiler flags|"
    rb"apitools not found, and bigquery client libraries|Logging handler created\.|"
    rb"No semi_persistent_directory found|Discarding unparseable args|"
    rb"Really starting service at|Really destroying service at"
)
# How long the copying thread may take to drain lines still in the pipe when the block ends;
# a worker process that outlives the block keeps the pipe open, so the wait must be bounded.
_DRAIN_SECONDS = 5.0
# Where an error report starts: a logged error (Python's or Beam's format) or a traceback.
_ERROR_REPORT = re.compile(rb"^(ERROR|CRITICAL)[ :]|^Traceback \(most recent call last\)")


@contextlib.contextmanager
def filtered_stderr(
    marker: bytes | None = None,
    on_marker: Callable[[int], object] | None = None,
    explained: tuple[type[BaseException], ...] = (),
) -> Iterator[None]:
    """Runs the block with file descriptor 2 filtered line by line (see the module doc).

    Args:
        marker: lines equal to it are not printed either; `on_marker` is called with how many
            arrived (the ingest's progress, see `idphoto.data.progress`).
        on_marker: see `marker`.
        explained: exceptions whose own one-line message says all a user needs (a full disk).
            From the first logged error or traceback on, lines are held back until the block
            ends; they are dropped when it raises one of these, and printed otherwise.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    read_end, write_end = os.pipe()
    copier = _Copier(read_end, saved, marker, on_marker, hold_errors=bool(explained))
    copier.start()
    os.dup2(write_end, 2)
    os.close(write_end)
    outcome: BaseException | None = None
    try:
        yield
    except BaseException as err:
        outcome = err
        raise
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes this process's last write end of the pipe
        copier.join(_DRAIN_SECONDS)
        copier.release(drop=isinstance(outcome, explained))
        if not copier.is_alive():
            os.close(saved)


class _Copier(threading.Thread):
    """Copies the pipe to the real stderr line by line, without the noise and the markers."""

    def __init__(self, read_end: int, target: int, marker, on_marker, hold_errors: bool):
        super().__init__(daemon=True)
        self._read_end = read_end
        self._target = target
        self._marker = marker
        self._on_marker = on_marker
        self._hold_errors = hold_errors
        self._held: list[bytes] | None = None  # a list once an error report has started
        self._lock = threading.Lock()

    def run(self) -> None:
        pending = b""
        with os.fdopen(self._read_end, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                *lines, pending = (pending + chunk).split(b"\n")
                self._take([line + b"\n" for line in lines])
        self._take([pending] if pending else [])

    def release(self, drop: bool) -> None:
        """Ends holding: prints the held lines, or drops them when `drop`."""
        with self._lock:
            held, self._held, self._hold_errors = self._held or [], None, False
        if not drop:
            _write(self._target, held)

    def _take(self, lines: list[bytes]) -> None:
        if self._marker is not None:
            marker = self._marker + b"\n"
            marks = sum(line == marker for line in lines)
            lines = [line for line in lines if line != marker]
            if marks and self._on_marker is not None:
                self._on_marker(marks)
        lines = [line for line in lines if not _NOISE.search(line)]
        with self._lock:
            if self._held is None and self._hold_errors:
                starts = [i for i, line in enumerate(lines) if _ERROR_REPORT.search(line)]
                if starts:
                    start = starts[0]
                    lines, self._held = lines[:start], lines[start:]
            elif self._held is not None:
                self._held.extend(lines)
                return
        _write(self._target, lines)


def _write(target: int, lines: list[bytes]) -> None:
    kept = b"".join(lines)
    while kept:
        kept = kept[os.write(target, kept) :]


def import_tensorflow() -> None:
    """Imports TensorFlow and lets it find its devices, with its start-up noise filtered out.

    Does nothing when TensorFlow is already imported.
    """
    if "tensorflow" in sys.modules:
        return
    with filtered_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")  # where cuInit is called
