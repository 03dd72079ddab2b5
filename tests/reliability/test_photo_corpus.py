"""Hostile image files through the job's own per-photo steps, called directly (no Beam runner):
`JudgeLicenceFn` then `PreparePhotoFn`, exactly as the ingest pipeline chains them."""

import functools
import hashlib
import io
import json
import time

import numpy as np
import pytest
from PIL import Image, ImageFile

from idphoto.data import lineage, transforms
from idphoto.data.decode import decode_photo
from idphoto.data.dedup import pixel_digest
from idphoto.data.ingest_config import default_path, load_ingest_config
from idphoto.data.photo import Deadline, SourceFile, prepare_photo
from idphoto.data.transforms import REJECTED, JudgeLicenceFn, PreparePhotoFn
from idphoto.errors import PhotoRejected
from idphoto.faces.align import eye_distance
from idphoto.faces.detect import DetectedFace
from idphoto.licences import load_policy
from idphoto.sample_data.portraits import draw_portrait
from tests.reliability.corpus import (
    EPS,
    OK,
    build_file,
    corpus_names,
    png_claiming,
    save_frames,
    solid_frames,
)

CFG = load_ingest_config()
POLICY = load_policy()
# A photo's steps take well under a second here; minutes would mean a hang, not a slow machine.
NO_HANG_SECONDS = 20
# Reasons given before the file's bytes are read, so no sha256 is known.
_BEFORE_READING = {"empty_file", "missing_file", "file_too_large"}


def _row(name, landmarks, line=2, **extra):
    return {
        "id": name,
        "line": line,
        "path": name,
        "licence": "CC0-1.0",
        "author": "",
        "source_url": "",
        "title": "",
        "consent": "true",
        "landmarks": json.dumps(landmarks) if landmarks is not None else "",
        **extra,
    }


def run_photo_steps(row, root, cfg=CFG, prepare=PreparePhotoFn):
    """Runs one manifest row through the licence and photo DoFns; returns their outputs."""
    (judged,) = JudgeLicenceFn(POLICY, "research", frozenset()).process(row)
    assert isinstance(judged, dict), judged  # CC0 with consent: on to the photo steps
    step = prepare(str(root), cfg, frozenset())
    step.setup()
    return list(step.process(judged))


def _outcome(outputs):
    (output,) = outputs  # one row in, one row out
    if isinstance(output, dict):
        return OK, output
    assert output.tag == REJECTED
    return output.value["reason"], output.value


@pytest.mark.parametrize("name", corpus_names())
def test_hostile_file_becomes_an_accepted_photo_or_a_rejected_row_with_a_specific_reason(
    name, tmp_path
):
    hostile = build_file(name)
    (tmp_path / name).write_bytes(hostile.data)
    started = time.monotonic()
    reason, output = _outcome(run_photo_steps(_row(name, hostile.landmarks), tmp_path))
    assert time.monotonic() - started < NO_HANG_SECONDS
    assert reason in hostile.outcomes, output
    if reason == OK:
        aligned = Image.open(io.BytesIO(output["image_bytes"]))
        assert (aligned.format, aligned.mode, aligned.size) == ("PNG", "RGB", (128, 128))
        assert np.asarray(aligned).std() > 10  # a picture, not a blank frame
        assert output["landmarks_source"] == "manifest"
    else:
        assert set(output) == set(lineage.COLUMNS)
        assert output["decision"] == lineage.REJECTED
        assert output["detail"] and "\n" not in output["detail"]
        if reason not in _BEFORE_READING:
            assert output["sha256"] == hashlib.sha256(hostile.data).hexdigest()


@pytest.mark.parametrize("name", ["animated.gif", "flipped-2.jpg", "bomb.png", "exif-loop.jpg"])
def test_the_outcome_of_a_hostile_file_is_the_same_on_every_run(name, tmp_path):
    hostile = build_file(name)
    (tmp_path / name).write_bytes(hostile.data)
    runs = [run_photo_steps(_row(name, hostile.landmarks), tmp_path) for _ in range(2)]
    first, second = (_outcome(outputs) for outputs in runs)
    assert first[0] == second[0]
    if first[0] == OK:
        assert first[1]["image_bytes"] == second[1]["image_bytes"]
    else:
        assert first[1] == second[1]


@pytest.mark.parametrize(
    ("fmt", "options"),
    [
        ("GIF", {"duration": 50}),
        ("TIFF", {}),
        ("PNG", {}),
        ("WEBP", {"lossless": True}),
        ("MPO", {}),  # a camera's multi-picture JPEG; its frames' grey levels survive exactly
    ],
)
def test_multi_frame_files_give_their_first_frame(fmt, options):
    data = save_frames(solid_frames((10, 120, 240)), fmt, **options)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 3
    decoded = decode_photo(data, max_pixels=1_000_000, min_side=64)
    assert decoded.shape == (96, 96, 3) and (decoded == 10).all()


@pytest.mark.parametrize("name", ["animated.gif", "multipage.tiff"])
def test_accepted_multi_frame_photo_is_hashed_from_its_first_frame(name, tmp_path):
    hostile = build_file(name)
    (tmp_path / name).write_bytes(hostile.data)
    _, output = _outcome(run_photo_steps(_row(name, hostile.landmarks), tmp_path))
    first_frame = np.asarray(Image.open(io.BytesIO(hostile.data)).convert("RGB"))
    assert output["pixel_sha256"] == pixel_digest(first_frame)


@pytest.mark.parametrize("name", ["exif-orientation-9.jpg", "exif-orientation-65535.jpg"])
def test_bogus_exif_orientation_is_ignored(name):
    data = build_file(name).data
    assert Image.open(io.BytesIO(data)).getexif()[0x0112] in (9, 65535)
    as_stored = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert np.array_equal(decode_photo(data, max_pixels=1_000_000, min_side=64), as_stored)


def _decoded(hostile):
    return decode_photo(hostile.data, max_pixels=1_000_000, min_side=64).astype(int)


def test_sixteen_bit_photos_are_scaled_to_eight_bits_not_clipped():
    rgb16 = build_file("rgb16.png")
    assert np.array_equal(_decoded(rgb16), rgb16.original)
    gray16 = build_file("gray16.png")
    gray = np.asarray(Image.fromarray(gray16.original).convert("L"), dtype=int)
    assert np.abs(_decoded(gray16)[:, :, 0] - gray).max() <= 1


def test_cmyk_jpeg_keeps_its_colours():
    cmyk = build_file("cmyk.jpg")
    # Not inverted (Adobe's CMYK convention), only JPEG's loss away from the original.
    assert np.abs(_decoded(cmyk) - cmyk.original).mean() < 6


def test_decompression_bomb_is_refused_from_its_header_without_decoding_a_pixel(monkeypatch):
    def no_decoding(self):
        raise AssertionError("a decompression bomb was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(PhotoRejected) as info:
        decode_photo(png_claiming(100_000, 100_000), max_pixels=40_000_000, min_side=64)
    assert info.value.reason == "decompression_bomb"
    assert "100000x100000" in info.value.detail


def test_a_small_face_in_a_large_frame_is_face_too_small_under_the_configured_minimum(tmp_path):
    portrait = draw_portrait(np.random.default_rng(5))  # 256 px, eyes about 40 px apart
    face = Image.fromarray(portrait.image).resize((64, 64), Image.Resampling.LANCZOS)
    frame = Image.new("RGB", (256, 256), (212, 213, 212))
    frame.paste(face, (96, 80))
    landmarks = portrait.landmarks / 4 + [96, 80]
    distance = eye_distance(landmarks)
    assert distance < CFG.faces.min_eye_distance
    frame.save(tmp_path / "far.png")
    row = _row("far.png", landmarks.tolist())
    reason, output = _outcome(run_photo_steps(row, tmp_path))
    assert reason == "face_too_small" and output["detail"] == f"eyes {distance:.1f} px apart"
    lenient = load_ingest_config(overrides={"faces.min_eye_distance": distance - 1})
    assert _outcome(run_photo_steps(row, tmp_path, lenient))[0] == OK


def test_postscript_is_not_an_image_and_ghostscript_never_runs(monkeypatch, tmp_path):
    from PIL import EpsImagePlugin

    runs = []
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", "gs")  # as if Ghostscript were installed
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *args, **kw: runs.append(args))
    (tmp_path / "page.eps").write_bytes(EPS)
    reason, _ = _outcome(run_photo_steps(_row("page.eps", [[0, 0]] * 5), tmp_path))
    assert reason == "not_an_image"
    assert runs == []


# --- the per-photo time limit --------------------------------------------------------------------


class _Clock:
    """A clock that reads the given times in turn, then stays at the last."""

    def __init__(self, *times):
        self._times = list(times)

    def __call__(self):
        return self._times.pop(0) if len(self._times) > 1 else self._times[0]


def test_deadline_rejects_as_timeout_once_its_time_is_spent():
    deadline = Deadline(5, clock=_Clock(100.0, 104.0, 106.0))
    deadline.check("reading the file")  # 4 s of 5
    with pytest.raises(PhotoRejected) as info:
        deadline.check("decoding")  # 6 s of 5
    assert info.value.reason == "timeout"
    assert "5 s" in info.value.detail and "decoding" in info.value.detail


def test_photo_whose_decoding_outlasts_its_budget_is_rejected_before_the_face_is_sought():
    hostile = build_file("good.png")

    class _MustNotRun:
        def detect(self, image):
            raise AssertionError("the face was sought after the deadline")

    source = SourceFile(hostile.data, hashlib.sha256(hostile.data).hexdigest())
    row = _row("good.png", None)  # no landmarks: the detector would be next
    with pytest.raises(PhotoRejected) as info:
        prepare_photo(row, source, CFG, _MustNotRun(), Deadline(30, clock=_Clock(0.0, 31.0)))
    assert info.value.reason == "timeout" and "decoding" in info.value.detail


class _VirtualClock:
    """Time that passes only when a test says so: a photo's budget is then checked against the
    work the test makes it do, however busy the machine is."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class _SlowDetector:
    """A detector that takes `seconds` of virtual time on its first `slow_calls` calls and finds
    the face the portrait `hostile` holds (its first call is the warm-up: MTCNN builds its
    network then)."""

    def __init__(self, hostile, seconds, slow_calls, clock):
        self._face = DetectedFace((60, 60, 130, 150), 0.99, np.array(hostile.landmarks))
        self._seconds = seconds
        self._slow_calls = slow_calls
        self._clock = clock
        self.calls = 0

    def detect(self, image):
        self.calls += 1
        if self.calls <= self._slow_calls:
            self._clock.now += self._seconds
        return [self._face]


def _prepare_with(detector):
    class _Prepare(PreparePhotoFn):
        def setup(self):
            self._detector = detector

    return _Prepare


@pytest.fixture
def clock(monkeypatch):
    """Every photo's deadline runs on a virtual clock."""
    virtual = _VirtualClock()
    monkeypatch.setattr(transforms, "Deadline", functools.partial(Deadline, clock=virtual))
    return virtual


@pytest.mark.parametrize(("limit", "reason"), [(0.2, "timeout"), (30, OK)])
def test_photo_over_the_configured_time_limit_is_rejected_as_timeout(
    tmp_path, clock, limit, reason
):
    hostile = build_file("good.png")
    (tmp_path / "good.png").write_bytes(hostile.data)
    cfg = load_ingest_config(overrides={"image.max_seconds_per_photo": limit})
    slow = _prepare_with(_SlowDetector(hostile, seconds=0.4, slow_calls=2, clock=clock))
    got, output = _outcome(run_photo_steps(_row("good.png", None), tmp_path, cfg, slow))
    assert got == reason, output
    if reason == "timeout":
        assert "locating the face" in output["detail"] and output["sha256"]


def test_building_the_detector_does_not_count_against_the_first_photo(tmp_path, clock):
    hostile = build_file("good.png")
    (tmp_path / "good.png").write_bytes(hostile.data)
    cfg = load_ingest_config(overrides={"image.max_seconds_per_photo": 0.3})
    slow_to_load = _SlowDetector(hostile, seconds=0.5, slow_calls=1, clock=clock)
    outputs = run_photo_steps(_row("good.png", None), tmp_path, cfg, _prepare_with(slow_to_load))
    assert _outcome(outputs)[0] == OK and slow_to_load.calls == 2
    assert clock.now == 0.5  # the warm-up took its time, before the photo's clock started


def test_time_limit_comes_from_the_ingest_config():
    assert CFG.image.max_seconds_per_photo > 0
    assert "max_seconds_per_photo:" in default_path().read_text(encoding="utf-8")
