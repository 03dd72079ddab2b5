"""TensorFlow's C++ start-up lines, kept off the terminal.

On import and on its first look for GPUs, TensorFlow's C++ runtime writes lines straight to file
descriptor 2, before its log level applies: that oneDNN is on, which CPU instructions it was
built for, that no CUDA driver was found and that cuInit failed. None of them is actionable for a
user on a CPU machine (nor on a GPU machine: the replica count is printed anyway), and every
idphoto command that trains, promotes, generates or ingests started with five of them. The import
runs with file descriptor 2 sent to a temporary file; afterwards every line that is not one of
those is written to the real stderr, so real errors still show.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

_NOISE = re.compile(
    r"absl::InitializeLog\(\) is called|oneDNN custom operations are on|"
    r"Could not find cuda drivers|failed call to cuInit|cpu_feature_guard|"
    r"This TensorFlow binary is optimized|To enable the following instructions|"
    r"rebuild TensorFlow with the appropriate compiler flags"
)


def import_tensorflow(find_devices: bool = True) -> None:
    """Imports TensorFlow and, with `find_devices`, lets it find its devices, with its start-up
    noise filtered out.

    Does nothing when TensorFlow is already imported. A launcher that hands the work to other
    processes (the ingest job) passes `find_devices=False`: it needs no device, and starting
    TensorFlow's device runtime there only adds threads that must be torn down at exit.
    """
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import tensorflow as tf

            if find_devices:
                tf.config.list_physical_devices("GPU")  # where cuInit is called
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines = capture.read().decode("utf-8", errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if not _NOISE.search(line)))
            sys.stderr.flush()
