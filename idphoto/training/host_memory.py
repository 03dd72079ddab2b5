"""Keeps glibc's malloc from handing every large host buffer back to the kernel.

`tf.distribute` feeds replicas through `MultiDeviceIterator`, which builds `GeneratorDataset`
ops; TensorFlow's kernel for that op calls `mallopt(M_MMAP_THRESHOLD, 128 KiB)` for the whole
process (its "Python 3.11 memory patch"). A fixed threshold also turns off glibc's dynamic one,
so from then on every host buffer above 128 KiB — Eigen's packing buffers in each convolution
on CPU, for example — is mapped and unmapped on every use. On a 2-core CPU the dcgan64 step
fell from 1.4 to 0.8 steps/s, with a third of its CPU time in the kernel serving page faults.

No library or TensorFlow option sets this back, hence the few lines here: raise the thresholds
again once the iterator exists. Large buffers then come from the heap and stay there between
steps; up to `_TRIM_THRESHOLD` of free heap is kept rather than returned.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging

import keras

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest: HEAP_MAX_SIZE / 2 on 64-bit
_TRIM_THRESHOLD = 256 * 1024 * 1024
_LOG = logging.getLogger(__name__)


def keep_large_buffers() -> bool:
    """Sets glibc's mmap and trim thresholds high; returns False where there is no glibc."""
    mallopt = _mallopt()
    if mallopt is None:
        return False
    done = mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD) == 1
    done &= mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD) == 1
    if not done:
        _LOG.debug("mallopt refused the malloc thresholds")
    return done


class KeepLargeBuffers(keras.callbacks.Callback):
    """Calls `keep_large_buffers` once `fit` has made its input iterator (before step one)."""

    def __init__(self):
        super().__init__()
        self.applied: bool | None = None

    def on_train_batch_begin(self, batch, logs=None):
        if self.applied is None:
            self.applied = keep_large_buffers()


@functools.cache
def _mallopt():
    name = ctypes.util.find_library("c")
    try:
        function = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError, TypeError):  # not glibc (musl, macOS, Windows)
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_int)
    function.restype = ctypes.c_int
    return function
