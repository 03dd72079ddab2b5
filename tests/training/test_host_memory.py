"""Large host buffers stay in the heap after `tf.distribute` makes its input iterator.

TensorFlow's GeneratorDataset kernel (built by `MultiDeviceIterator`) fixes glibc's mmap
threshold at 128 KiB for the whole process, so every larger buffer costs fresh page faults on
every use. The check runs in a fresh process: the threshold is process-wide state.
"""

import json
import subprocess
import sys
import textwrap

import pytest

_PROBE = textwrap.dedent(
    """
    import json, resource
    import numpy as np
    import tensorflow as tf
    from idphoto.training.host_memory import keep_large_buffers

    def faults_per_buffer():
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(100):
            np.ones(1 << 20, np.uint8)  # 1 MiB, allocated, written and freed
        return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 100

    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    dataset = strategy.experimental_distribute_dataset(tf.data.Dataset.range(8).batch(2))
    next(iter(dataset))  # builds the MultiDeviceIterator and its GeneratorDataset ops
    patched = faults_per_buffer()
    applied = keep_large_buffers()
    print(json.dumps({"patched": patched, "applied": applied, "kept": faults_per_buffer()}))
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc only")
def test_buffers_stop_faulting_once_the_thresholds_are_raised():
    result = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=300, check=True
    )
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["applied"] is True
    assert found["patched"] > 128  # most of a MiB's 256 pages fault again on every allocation
    assert found["kept"] < 8
