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
    rb"No semi_persistent_directory found|Discarding unparseable args"
)
# How long the copying thread may take to drain lines still in the pipe when the block ends;
# a worker process that outlives the block keeps the pipe open, so the wait must be bounded.
_DRAIN_SECONDS = 5.0


@contextlib.contextmanager
def filtered_stderr(
    marker: bytes | None = None, on_marker: Callable[[int], object] | None = None
) -> Iterator[None]:
    """Runs the block with file descriptor 2 filtered line by line (see the module doc).

    Lines equal to `marker` are not printed either: `on_marker` is called with how many arrived
    (the ingest's progress, see `idphoto.data.progress`).
    """
    sys.stderr.flush()
    saved = os.dup(2)
    read_end, write_end = os.pipe()
    copier = threading.Thread(
        target=_copy_lines, args=(read_end, saved, marker, on_marker), daemon=True
    )
    copier.start()
    os.dup2(write_end, 2)
    os.close(write_end)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes this process's last write end of the pipe
        copier.join(_DRAIN_SECONDS)
        if not copier.is_alive():
            os.close(saved)


def _copy_lines(read_end: int, target: int, marker, on_marker) -> None:
    pending = b""
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        while chunk := pipe.read(65536):
            *lines, pending = (pending + chunk).split(b"\n")
            if marker is not None:
                marks = sum(line == marker for line in lines)
                lines = [line for line in lines if line != marker]
                if marks and on_marker is not None:
                    on_marker(marks)
            _write(target, [line + b"\n" for line in lines])
    _write(target, [pending] if pending else [])


def _write(target: int, lines: list[bytes]) -> None:
    kept = b"".join(line for line in lines if not _NOISE.search(line))
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
