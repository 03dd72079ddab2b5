"""The content digest of a dataset's TFRecords, independent of how records fall into shards.

Beam decides the shard layout and the order of records within shards, so a digest of the files
would change between two identical ingests. The digest is instead taken over the multiset of
canonical examples: the sum modulo 2**256 of their sha256 values, with the count (a multiset
hash: order-free and combinable across workers, so it is computed inside the job at any scale).

An example is a protocol buffer whose features are a map, and protocol buffers do not fix the
order in which map entries are serialised: the same example can serialise to different bytes in
two processes. Each record is therefore hashed (and written) in its deterministic
serialisation, with the map's keys in order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping

import apache_beam as beam

_MODULUS = 1 << 256


def record_digest(records: Iterable[bytes]) -> str:
    """The digest of serialised records, as `RecordDigestFn` computes it in a pipeline."""
    count, total = 0, 0
    for record in records:
        count, total = count + 1, (total + _record_value(record)) % _MODULUS
    return _finish(count, total)


def dataset_digest(split_digests: Mapping[str, str]) -> str:
    """One digest over every split's record digest."""
    canonical = json.dumps(dict(sorted(split_digests.items())), separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class RecordDigestFn(beam.CombineFn):
    """Combines serialised records into their content digest (see the module docstring)."""

    def create_accumulator(self):
        return 0, 0

    def add_input(self, accumulator, record):
        count, total = accumulator
        return count + 1, (total + _record_value(record)) % _MODULUS

    def merge_accumulators(self, accumulators):
        count, total = 0, 0
        for part_count, part_total in accumulators:
            count, total = count + part_count, (total + part_total) % _MODULUS
        return count, total

    def extract_output(self, accumulator):
        return _finish(*accumulator)


def canonical_example(record: bytes) -> bytes:
    """A serialised `tf.train.Example` re-serialised with its features in key order."""
    from tensorflow.core.example import example_pb2  # late import: TensorFlow is slow to load

    return example_pb2.Example.FromString(record).SerializeToString(deterministic=True)


def _record_value(record: bytes) -> int:
    return int.from_bytes(hashlib.sha256(canonical_example(record)).digest(), "big")


def _finish(count: int, total: int) -> str:
    return hashlib.sha256(f"{count}:{total:064x}".encode("ascii")).hexdigest()
