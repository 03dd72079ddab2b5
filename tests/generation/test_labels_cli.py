"""Labels that survive: generated photos carry signed Content Credentials and a watermark id that
`idphoto detect` finds after the metadata is gone; `generate --verify` reports tampering."""

import io
import json
import os
import shutil
import stat
import subprocess
import tempfile

import numpy as np
import pytest
from PIL import Image

from idphoto.cli import main


def _run(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def generated(registered_generator, tmp_path_factory):
    """Three PNG photos of the tiny generator, signed with the session's test keys."""
    from idphoto.generation.generate import generate_photos

    out = tmp_path_factory.mktemp("labelled") / "photos"
    uri = f"models:/{registered_generator.name}@{registered_generator.alias}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", registered_generator.tracking_uri)
        generate_photos(uri, 3, "passport-35x45", out, seed=3)
    manifest = json.loads((out / "manifest.json").read_text())
    return out, manifest


def test_every_photo_verifies_with_valid_credentials(capsys, generated):
    out, manifest = generated
    files = [str(out / photo["file"]) for photo in manifest["photos"]]
    code, stdout, _ = _run(capsys, "generate", "--verify", *files)
    reports = [json.loads(line) for line in stdout.splitlines()]
    assert code == 0
    assert [r["c2pa"] for r in reports] == ["valid"] * 3
    assert "CN=idphoto test signer" in manifest["label"]["content_credentials"]["signer"]


def test_credentials_state_the_model_and_the_watermark_id(generated):
    from idphoto.generation.credentials import verify_photo

    out, manifest = generated
    photo = manifest["photos"][1]
    status = verify_photo(out / photo["file"], os.environ["IDPHOTO_KEYS"] + "/ca.pem")
    assert status.state == "valid"
    assert status.digital_source_type.endswith("/trainedAlgorithmicMedia")
    assert status.parameters["run_id"] == manifest["model"]["run_id"]
    assert status.parameters["index"] == 1 and status.parameters["seed"] == 3
    assert f"{status.training_data['watermark_id']:08x}" == photo["watermark_id"]


def test_changed_pixels_are_reported_as_tampered(capsys, generated, tmp_path):
    out, manifest = generated
    data = bytearray((out / manifest["photos"][0]["file"]).read_bytes())
    with Image.open(io.BytesIO(bytes(data))) as picture:
        pixels = np.asarray(picture.convert("RGB")).copy()
    pixels[200:240, 150:250] = 0  # a black bar across the face, the file re-encoded as PNG
    edited = io.BytesIO()
    Image.fromarray(pixels).save(edited, "PNG")
    # Keep the original metadata chunks (XMP, the C2PA manifest) and swap the image data only.
    tampered = tmp_path / "tampered.png"
    tampered.write_bytes(_swap_png_image_data(bytes(data), edited.getvalue()))
    code, stdout, _ = _run(capsys, "generate", "--verify", str(tampered))
    report = json.loads(stdout)
    assert code == 1
    assert report["c2pa"] == "invalid" and "assertion.dataHash.mismatch" in report["c2pa_failures"]
    assert report["ai_generated_label"] is True  # the XMP is still there, but no longer proven


def test_a_jpeg_copy_without_metadata_is_still_detected_with_its_id(capsys, generated, tmp_path):
    out, manifest = generated
    photo = manifest["photos"][2]
    with Image.open(out / photo["file"]) as picture:
        copy = tmp_path / "copy.jpg"
        picture.convert("RGB").save(copy, quality=75)  # Pillow writes no XMP or C2PA here
    code, stdout, _ = _run(
        capsys, "detect", str(copy), "--json", "--manifest", str(out / "manifest.json")
    )
    report = json.loads(stdout)
    assert code == 0
    assert report["watermark"] == {"found": True, "id": photo["watermark_id"], "scale": 1.0}
    assert report["c2pa"]["state"] == "absent" and report["xmp"] == {}
    assert report["generated_as"]["file"] == photo["file"]


def test_detect_exits_1_for_an_unmarked_photo(capsys, tmp_path):
    import skimage.data

    path = tmp_path / "astronaut.png"
    Image.fromarray(skimage.data.astronaut()).save(path)
    code, stdout, _ = _run(capsys, "detect", str(path))
    assert code == 1
    assert stdout.strip() == f"{path}: no watermark; c2pa absent; no xmp label"


def test_keys_init_writes_a_private_key_only_its_owner_reads(capsys, tmp_path):
    folder = tmp_path / "keys"
    code, stdout, _ = _run(capsys, "keys", "init", "--keys", str(folder))
    assert code == 0 and "PRIVATE" not in stdout
    assert stat.S_IMODE((folder / "signer.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    code, _, err = _run(capsys, "keys", "init", "--keys", str(folder))
    assert code == 2 and "refusing to overwrite" in err and len(err.strip().splitlines()) == 1


def test_generate_without_keys_says_how_to_make_them(capsys, tmp_path):
    code, _, err = _run(
        capsys, "generate", "--model", "models:/m@champion", "--n", "1", "--preset",
        "passport-35x45", "--out", str(tmp_path / "out"), "--keys", str(tmp_path / "none"),
    )  # fmt: skip
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "no signing keys in" in err and "idphoto keys init" in err
    assert not (tmp_path / "out").exists()


def test_strict_drops_photos_outside_the_bands_and_says_why(capsys, generator_store, tmp_path):
    out = tmp_path / "strict"
    model = f"models:/{generator_store.name}@{generator_store.alias}"
    code, stdout, _ = _run(capsys, "generate", "--model", model, "--n", "2", "--preset",
                           "us-2x2in", "--out", str(out), "--strict")  # fmt: skip
    manifest = json.loads((out / "manifest.json").read_text())
    assert code == 0
    # The tiny generator draws no face, so no photo is inside the bands.
    assert "dropped 2 of 2 outside the preset's bands (no_face 2)" in stdout
    assert manifest["photos"] == [] and [d["index"] for d in manifest["dropped"]] == [0, 1]
    assert manifest["dropped"][0]["geometry"]["failed"] == ["no_face"]
    assert not list(out.glob("photo-*"))


def _swap_png_image_data(original: bytes, donor: bytes) -> bytes:
    """`original` with its IDAT chunks replaced by `donor`'s (same size and colour type)."""

    def chunks(data):
        position = 8
        while position < len(data):
            length = int.from_bytes(data[position : position + 4], "big")
            end = position + 12 + length
            yield data[position + 4 : position + 8], data[position:end]
            position = end

    donor_idat = b"".join(chunk for kind, chunk in chunks(donor) if kind == b"IDAT")
    result, placed = [original[:8]], False
    for kind, chunk in chunks(original):
        if kind == b"IDAT":
            if not placed:
                result.append(donor_idat)
                placed = True
            continue
        result.append(chunk)
    return b"".join(result)


def test_a_jpeg_of_a_chromium_screenshot_is_detected_with_its_id(capsys, generated, tmp_path):
    out, manifest = generated
    photo = manifest["photos"][0]
    page = tmp_path / "form.html"
    page.write_text(
        '<html><body style="margin:37px;background:#f4f4f4;font-family:sans-serif">'
        "<h2>Application form</h2><p>Upload your photo.</p>"
        f'<img src="{(out / photo["file"]).as_uri()}" style="margin-left:51px"></body></html>'
    )
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian's chromium is needed (make test and .ci/run install it)"
    shot = tmp_path / "shot.png"
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--no-first-run", "--disable-background-networking", "--allow-file-access-from-files",
             f"--user-data-dir={profile}", "--window-size=1280,900", f"--screenshot={shot}",
             page.as_uri()],
            capture_output=True, timeout=180, check=True,
        )  # fmt: skip
    copy = tmp_path / "shot.jpg"
    with Image.open(shot) as picture:
        assert picture.size == (1280, 900)
        picture.convert("RGB").save(copy, quality=75)
    code, stdout, _ = _run(capsys, "detect", str(copy), "--json")
    report = json.loads(stdout)
    assert code == 0
    assert report["watermark"]["id"] == photo["watermark_id"]
    assert report["c2pa"]["state"] == "absent" and report["xmp"] == {}
