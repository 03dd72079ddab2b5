"""`generate_photos` end to end against a real MLflow store (SQLite) and a tiny Keras generator."""

import json
import os
import re

import numpy as np
import pytest
from PIL import Image

from idphoto.errors import UserError
from idphoto.generation import generate as generate_module
from idphoto.generation import photo_writer
from idphoto.generation.generate import generate_photos
from idphoto.generation.labelling import read_label
from idphoto.generation.presets import load_presets

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
PRESET = "passport-35x45"


def _pixels(path):
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _manifest(out):
    return json.loads((out / "manifest.json").read_text())


@pytest.fixture(scope="module")
def five_photos(registered_generator, tmp_path_factory):
    """Five photos from `models:/NAME@ALIAS` in batches of 2 labelled by worker processes, and
    again in batches of 3 labelled in the calling process."""
    import mlflow

    uri = f"models:/{registered_generator.name}@{registered_generator.alias}"
    root = tmp_path_factory.mktemp("generated")
    mlflow.set_tracking_uri(registered_generator.tracking_uri)
    try:
        summary = generate_photos(uri, 5, PRESET, root / "by2", seed=7, batch_size=2)
        generate_photos(uri, 5, PRESET, root / "by3", seed=7, batch_size=3, workers=1)
    finally:
        mlflow.set_tracking_uri(None)
    return root, summary


def test_writes_n_photos_at_the_preset_size_with_a_manifest(five_photos):
    root, summary = five_photos
    out = root / "by2"
    names = [f"photo-{i:05d}.png" for i in range(5)]
    assert sorted(os.listdir(out)) == ["manifest.json", *names]
    for name in names:
        with Image.open(out / name) as image:
            assert image.size == (413, 531)
            assert round(image.info["dpi"][0]) == 300
    assert summary.count == 5 and summary.out_dir == str(out)
    assert [p.name for p in root.iterdir() if ".partial-" in p.name] == []


def test_every_photo_is_labelled_with_the_model_it_came_from(five_photos, registered_generator):
    root, _ = five_photos
    for i in range(5):
        label = read_label(root / "by2" / f"photo-{i:05d}.png")
        assert label["digital_source_type"] == TRAINED_ALGORITHMIC_MEDIA
        assert label["model_name"] == registered_generator.name
        assert label["model_version"] == registered_generator.version
        assert label["run_id"] == registered_generator.run_id
        assert label["model_uri"] == f"models:/{registered_generator.name}@champion"
        assert (label["seed"], label["index"], label["preset"]) == ("7", str(i), PRESET)
        assert label["tool"].startswith("idphoto ")


def test_manifest_lists_each_file_with_its_hash_and_the_model(five_photos, registered_generator):
    import hashlib

    root, _ = five_photos
    manifest = _manifest(root / "by2")
    assert manifest["model"] == {
        "uri": f"models:/{registered_generator.name}@champion",
        "name": registered_generator.name,
        "version": registered_generator.version,
        "run_id": registered_generator.run_id,
    }
    assert manifest["preset"]["name"] == PRESET and manifest["preset"]["dpi"] == 300
    assert manifest["label"]["digital_source_type"] == TRAINED_ALGORITHMIC_MEDIA
    assert manifest["label"]["visible_mark"] == "AI-generated"
    assert [p["index"] for p in manifest["photos"]] == [0, 1, 2, 3, 4]
    for photo in manifest["photos"]:
        data = (root / "by2" / photo["file"]).read_bytes()
        assert photo["sha256"] == hashlib.sha256(data).hexdigest()
        assert (photo["seed"], photo["width_px"], photo["height_px"]) == (7, 413, 531)


def test_plain_generated_background_is_replaced_by_the_preset_colour(five_photos):
    root, summary = five_photos
    background = load_presets().preset(PRESET).background_rgb
    assert summary.recoloured == 5
    assert all(p["background_recoloured"] for p in _manifest(root / "by2")["photos"])
    pixels = _pixels(root / "by2" / "photo-00000.png").astype(int)
    # The invisible watermark moves each pixel by a few levels around the colour.
    for patch in (pixels[2:34, 2:34], pixels[2:34, -34:-2]):
        assert np.abs(patch - background).max() <= 6
        assert np.abs(patch.mean(axis=(0, 1)) - background).max() < 1
    assert np.abs(pixels[300, 206].astype(int) - background).max() > 60  # the subject stays


def test_photo_i_is_the_same_whatever_the_batch_size_or_the_workers(five_photos):
    root, _ = five_photos
    for i in range(5):
        name = f"photo-{i:05d}.png"
        assert np.array_equal(_pixels(root / "by2" / name), _pixels(root / "by3" / name))
    # The files differ (each signature is new); the photo and its watermark id do not.
    ids = [[p["watermark_id"] for p in _manifest(root / b)["photos"]] for b in ("by2", "by3")]
    assert ids[0] == ids[1]
    assert len(set(ids[0])) == 5  # the photos differ from one another


def test_runs_uri_gives_the_run_id_and_no_registered_name(generator_store, tmp_path):
    uri = f"runs:/{generator_store.run_id}/generator"
    summary = generate_photos(uri, 1, "us-2x2in", tmp_path / "out", image_format="jpeg")
    label = read_label(tmp_path / "out" / "photo-00000.jpg")
    assert (label["model_name"], label["model_version"]) == ("", "")
    assert label["run_id"] == generator_store.run_id == summary.model.run_id
    assert label["digital_source_type"] == TRAINED_ALGORITHMIC_MEDIA
    with Image.open(tmp_path / "out" / "photo-00000.jpg") as image:
        assert (image.format, image.size, image.info["dpi"]) == ("JPEG", (600, 600), (300, 300))


def test_a_logged_model_uri_as_mlflow_3_lists_it_generates_too(generator_store, tmp_path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    experiment = client.get_run(generator_store.run_id).info.experiment_id
    (logged,) = client.search_logged_models([experiment])
    uri = f"models:/{logged.model_id}"
    summary = generate_photos(uri, 1, PRESET, tmp_path / "out")
    label = read_label(tmp_path / "out" / "photo-00000.png")
    assert label["run_id"] == generator_store.run_id == summary.model.run_id
    assert summary.model.uri == uri


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("models:/m-0123456789abcdef", "Logged model with ID 'm-0123456789abcdef' not found"),
        ("models:/tiny-id-generator@no-such-alias", "alias no-such-alias not found"),
        ("models:/tiny-id-generator/99", "name=tiny-id-generator, version=99) not found"),
        ("models:/no-such-model/1", "name=no-such-model, version=1) not found"),
        (
            "runs:/0123456789abcdef0123456789abcdef/generator",
            "Run with id=0123456789abcdef0123456789abcdef not found",
        ),
        ("generator.keras", "must be models:/NAME@ALIAS, models:/NAME/VERSION, models:/m-ID"),
    ],
)
def test_a_model_uri_that_does_not_resolve_is_one_line_error(
    generator_store, tmp_path, monkeypatch, uri, message
):
    def must_not_load(ref):
        raise AssertionError("the model must not be loaded")

    monkeypatch.setattr(generate_module, "load_generator", must_not_load)
    # The reason MLflow gives, not just the URI: every message echoes the URI.
    with pytest.raises(UserError, match=re.escape(message)) as caught:
        generate_photos(uri, 1, PRESET, tmp_path / "out")
    assert "\n" not in str(caught.value) and str(caught.value).startswith("--model ")
    assert not (tmp_path / "out").exists()


def test_a_run_without_that_artifact_is_one_line_error(generator_store, tmp_path):
    uri = f"runs:/{generator_store.run_id}/no-such-model"
    with pytest.raises(
        UserError, match="cannot load the model: Failed to download artifacts from path"
    ) as caught:
        generate_photos(uri, 1, PRESET, tmp_path / "out")
    assert "\n" not in str(caught.value)
    assert os.listdir(tmp_path) == []


def test_unreachable_tracking_server_is_one_line_error(tmp_path, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    mlflow.set_tracking_uri("http://127.0.0.1:9")  # the discard port: nothing listens
    try:
        with pytest.raises(UserError, match="unreachable") as caught:
            generate_photos("models:/x@champion", 1, PRESET, tmp_path / "out")
    finally:
        mlflow.set_tracking_uri(None)
    assert "\n" not in str(caught.value)


def test_non_empty_out_is_refused_without_overwrite_and_replaced_with_it(generator_store, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    uri = f"models:/{generator_store.name}/{generator_store.version}"
    with pytest.raises(UserError, match="not empty; pass --overwrite"):
        generate_photos(uri, 1, PRESET, out)
    assert os.listdir(out) == ["notes.txt"]

    generate_photos(uri, 1, PRESET, out, overwrite=True, visible_label=False)
    assert sorted(os.listdir(out)) == ["manifest.json", "photo-00000.png"]
    assert _manifest(out)["label"]["visible_mark"] is None


def test_an_interrupted_run_leaves_no_folder_behind(generator_store, tmp_path, monkeypatch):
    # Ctrl-C arrives in the main thread, here while it converts the second batch; the first
    # batch's photos may still be being written by the pool.
    calls = []
    real_convert = generate_module._to_rgb_uint8

    def interrupted(images, ref):
        calls.append(len(images))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_convert(images, ref)

    monkeypatch.setattr(generate_module, "_to_rgb_uint8", interrupted)
    uri = f"models:/{generator_store.name}@{generator_store.alias}"
    with pytest.raises(KeyboardInterrupt):
        generate_photos(uri, 8, PRESET, tmp_path / "out", batch_size=2)
    assert calls == [2, 2]
    assert os.listdir(tmp_path) == []


def test_a_failing_photo_write_stops_the_run_and_leaves_no_folder(
    generator_store, tmp_path, monkeypatch
):
    real_sign = photo_writer.sign_photo

    def failing(data, fmt, claim, signer):
        if claim.index == 2:
            raise OSError(28, "No space left on device")
        return real_sign(data, fmt, claim, signer)

    monkeypatch.setattr(photo_writer, "sign_photo", failing)  # in this process: workers=1
    uri = f"models:/{generator_store.name}@{generator_store.alias}"
    with pytest.raises(OSError, match="No space left"):
        generate_photos(uri, 6, PRESET, tmp_path / "out", batch_size=2, workers=1)
    assert os.listdir(tmp_path) == []
