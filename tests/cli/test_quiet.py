"""The stderr filter: start-up noise and progress markers are kept off the terminal, everything
else (errors above all) gets through, from this process and from the processes it starts."""

import os
import subprocess
import sys

from idphoto.cli.quiet import filtered_stderr
from idphoto.data import progress

_CHILD = r"""
import os, sys
os.write(2, b"I0000 port.cc:153] oneDNN custom operations are on. ...\n")
os.write(2, b"E0000 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error\n")
os.write(2, b"WARNING:root:apitools not found, and bigquery client libraries are not available\n")
for _ in range(5):
    os.write(2, MARKER + b"\n")
os.write(2, b"Traceback (most recent call last):\nValueError: a real error\n")
""".replace("MARKER", repr(progress.MARKER))


def test_noise_and_markers_are_dropped_and_real_lines_kept(capfd):
    counted = []
    with filtered_stderr(progress.MARKER, counted.append):
        subprocess.run([sys.executable, "-c", _CHILD], check=True)  # inherits descriptor 2
        os.write(2, b"E0000 failed call to cuInit: from this process\n")
        os.write(2, b"from this process, no newline at the end")
    err = capfd.readouterr().err
    assert err.splitlines() == [
        "Traceback (most recent call last):",
        "ValueError: a real error",
        "from this process, no newline at the end",
    ]
    assert sum(counted) == 5


def test_stderr_is_restored_after_the_block_even_on_error(capfd):
    try:
        with filtered_stderr():
            raise KeyError("inside")
    except KeyError:
        pass
    os.write(2, b"failed call to cuInit after the block is printed\n")
    assert "failed call to cuInit after the block is printed" in capfd.readouterr().err


_FAILING_WORKER = r"""
import os
os.write(2, b"WARNING a photo could not be processed\n")
os.write(2, b"ERROR apache_beam.runners.common: OSError: [Errno 28] No space left on device\n")
os.write(2, b"Traceback (most recent call last):\n  File x\nOSError: [Errno 28] No space\n")
"""


class _DiskFull(Exception):
    pass


def test_an_explained_failure_drops_the_error_reports_logged_before_it(capfd):
    try:
        with filtered_stderr(explained=(_DiskFull,)):
            subprocess.run([sys.executable, "-c", _FAILING_WORKER], check=True)
            raise _DiskFull
    except _DiskFull:
        pass
    # The warning before the error report streams as usual; the report itself is dropped.
    assert capfd.readouterr().err.splitlines() == ["WARNING a photo could not be processed"]


def test_any_other_failure_or_success_prints_the_held_error_reports(capfd):
    try:
        with filtered_stderr(explained=(_DiskFull,)):
            subprocess.run([sys.executable, "-c", _FAILING_WORKER], check=True)
            raise KeyError("a bug")
    except KeyError:
        pass
    failed = capfd.readouterr().err.splitlines()
    assert failed[1].startswith("ERROR apache_beam")
    assert failed[-1] == "OSError: [Errno 28] No space"
    with filtered_stderr(explained=(_DiskFull,)):
        subprocess.run([sys.executable, "-c", _FAILING_WORKER], check=True)
    assert capfd.readouterr().err.splitlines() == failed
