"""The evaluator judges ID compliance with the framing the dataset was aligned with."""

import dataclasses

import numpy as np
import pytest

from idphoto.data.dataset import HELD_OUT_SPLIT, TRAIN_SPLIT, open_ingested, photo_chunks
from idphoto.data.ingest_config import load_ingest_config
from idphoto.training.config import load_train_config, train_config_dir
from idphoto.training.data import real_images
from idphoto.training.evaluation import Evaluator
from pipelines import ingest

pytestmark = pytest.mark.slow
LOW_EYES = 0.55  # the default framing puts the eye line at 0.45 of the height


@pytest.fixture(scope="module")
def low_eyes_dataset(sample_manifest, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("framing") / "low-eyes")
    ingest.run(
        ["--manifest", sample_manifest, "--out", out, "--use", "research",
         "--set", f"align.eye_line_from_top={LOW_EYES}", "--set", "align.resolution=64",
         "--runner=DirectRunner", "--direct_running_mode=in_memory"]
    )  # fmt: skip
    return open_ingested(out)


def test_reference_compliance_uses_the_framing_the_dataset_was_made_with(low_eyes_dataset):
    made_with = low_eyes_dataset.made_with.config
    assert made_with.align.eye_line_from_top == LOW_EYES
    cfg = load_train_config(train_config_dir() / "dcgan64.yaml", {"metrics.compliance_samples": 8})
    images, _ = next(photo_chunks(low_eyes_dataset, TRAIN_SPLIT, 64, 3, chunk=8))
    real = (images * 255).round().astype(np.uint8)
    assert len(real) == 8
    assert Evaluator(cfg, real, real[:0], made_with).reference()["id_compliance"] >= 0.75
    # Judged against today's configs/ingest.yaml framing, the same photos would fail.
    today = dataclasses.replace(made_with, align=load_ingest_config().align)
    assert Evaluator(cfg, real, real[:0], today).reference()["id_compliance"] <= 0.25


def test_swd_is_measured_against_training_photos_and_the_held_out_ones_reported_beside(
    low_eyes_dataset,
):
    overrides = {"metrics.swd_samples": 8, "metrics.compliance_samples": 4}
    cfg = load_train_config(train_config_dir() / "dcgan64.yaml", overrides)
    reference = real_images(low_eyes_dataset, TRAIN_SPLIT, cfg.model, 8, seed=0)
    held_out = real_images(low_eyes_dataset, HELD_OUT_SPLIT, cfg.model, 8, seed=0)
    assert len(reference) == 8 and len(held_out) >= 1
    again = real_images(low_eyes_dataset, TRAIN_SPLIT, cfg.model, 8, seed=0)
    np.testing.assert_array_equal(reference, again)  # the same real set at every evaluation
    evaluator = Evaluator(cfg, reference, held_out, low_eyes_dataset.made_with.config)
    floors = evaluator.reference()
    assert floors["swd_floor"] > 0

    def copies_of_the_reference(latents):
        return reference[np.arange(len(latents)) % len(reference)] / 127.5 - 1.0

    scores = evaluator(copies_of_the_reference)
    assert scores["swd"] == pytest.approx(0.0, abs=1e-6)  # the reference set itself
    assert scores["swd_heldout"] == pytest.approx(floors["swd_floor"], rel=1e-6)
    assert scores["id_compliance"] >= 0.75
