"""The dataset content digest: order-free, combinable, and sensitive to every record."""

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from idphoto.data.digest import RecordDigestFn, dataset_digest, record_digest

RECORDS = [b"alpha", b"beta", b"gamma", b"beta"]


def test_digest_ignores_order_but_not_content_or_multiplicity():
    assert record_digest(RECORDS) == record_digest(list(reversed(RECORDS)))
    assert record_digest(RECORDS) != record_digest(RECORDS[:3])  # one duplicate fewer
    assert record_digest(RECORDS) != record_digest([b"alpha", b"beta", b"gamma", b"betA"])
    assert record_digest([]) != record_digest([b""])


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
