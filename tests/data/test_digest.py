"""The dataset content digest: order-free, combinable, and sensitive to every record."""

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from tensorflow.core.example import example_pb2, feature_pb2

from idphoto.data.digest import RecordDigestFn, canonical_example, dataset_digest, record_digest


def _example(**features: bytes) -> bytes:
    example = example_pb2.Example()
    for key, value in features.items():
        example.features.feature[key].bytes_list.value.append(value)
    return example.SerializeToString(deterministic=True)


RECORDS = [_example(id=b"alpha"), _example(id=b"beta"), _example(id=b"gamma"), _example(id=b"beta")]


def _with_entries_in_order(*entries: tuple[str, bytes]) -> bytes:
    """An Example whose feature map entries are serialised in the given order (protobuf keeps no
    order for map entries, so two writers may do this differently)."""
    features = b"".join(
        feature_pb2.Features(feature={key: feature_pb2.Feature(
            bytes_list=feature_pb2.BytesList(value=[value])
        )}).SerializeToString()
        for key, value in entries
    )  # fmt: skip
    return b"\x0a" + _varint(len(features)) + features  # field 1 (features), length-delimited


def _varint(value: int) -> bytes:
    out = b""
    while True:
        low, value = value & 0x7F, value >> 7
        out += bytes([low | (0x80 if value else 0)])
        if not value:
            return out


def test_the_same_example_serialised_in_another_field_order_has_the_same_digest():
    forward = _with_entries_in_order(("id", b"x"), ("sha256", b"y"))
    backward = _with_entries_in_order(("sha256", b"y"), ("id", b"x"))
    assert forward != backward  # different bytes ...
    assert canonical_example(forward) == canonical_example(backward)  # ... the same example
    assert record_digest([forward]) == record_digest([backward])


def test_digest_ignores_order_but_not_content_or_multiplicity():
    assert record_digest(RECORDS) == record_digest(list(reversed(RECORDS)))
    assert record_digest(RECORDS) != record_digest(RECORDS[:3])  # one duplicate fewer
    changed = [*RECORDS[:3], _example(id=b"betA")]
    assert record_digest(RECORDS) != record_digest(changed)
    assert record_digest([]) != record_digest([_example()])


def test_pipeline_combine_matches_the_plain_function_across_bundles():
    with TestPipeline() as pipeline:
        digest = (
            pipeline
            | beam.Create(RECORDS * 50, reshuffle=True)
            | beam.CombineGlobally(RecordDigestFn())
        )
        assert_that(digest, equal_to([record_digest(RECORDS * 50)]))


def test_dataset_digest_depends_on_every_split_and_not_on_key_order():
    a = dataset_digest({"train": "1", "test": "2"})
    assert a == dataset_digest({"test": "2", "train": "1"})
    assert a != dataset_digest({"train": "1", "test": "3"})
