"""Ingest benchmarks: the Beam job against a bare loop, against itself on more workers, its
memory on ten times the photos, and its rate with the face detector.

Every photo in the manifests is one the job accepts (see `bench.workspace`), so the job and the
bare loop do the same work on the same photos: read → decode → align → encode → serialise →
write. Rates are photos over wall time, the job's start-up included; the job's start-up alone
(a one-photo manifest) is measured too, to tell a fixed cost from a per-photo one.
"""

from __future__ import annotations

import logging
import os
import statistics
import sys
import time

from bench.process_tree import quiet_env, run_sampled
from bench.results import (
    REPORT,
    Measure,
    Record,
    guarded,
    ratio_at_least,
    ratio_at_most,
)
from bench.workspace import Workspace

STAGE = "ingest"
RATE = "photos/s"
ONE_WORKER = Measure(STAGE, "photos/s, landmarks given, 1 worker", RATE, ratio_at_least(0.8))
STEADY = Measure(STAGE, "photos/s excluding start-up, 1 worker", RATE, REPORT)
STARTUP = Measure(STAGE, "start-up: wall time of a 1-photo job, 1 worker", "s", REPORT)
TWO_WORKERS = Measure(STAGE, "photos/s, 2 workers vs 1", RATE, ratio_at_least(1.7))
TWO_WORKERS_STEADY = Measure(STAGE, "photos/s excluding start-up, 2 workers vs 1", RATE, REPORT)
DETECTOR = Measure(STAGE, "photos/s with the detector vs landmarks given", RATE, REPORT)
PEAK_RSS = Measure(STAGE, "peak RSS of the job, 10x photos vs 1x", "MiB", ratio_at_most(1.2))

_THROUGHPUT = (ONE_WORKER, STEADY, STARTUP, TWO_WORKERS, TWO_WORKERS_STEADY, DETECTOR)
_RSS_WORKERS = 2
_LOG = logging.getLogger(__name__)


def run(workspace: Workspace, repeats: int) -> list[Record]:
    """Runs every ingest measure `repeats` times and returns their records."""
    return guarded(_THROUGHPUT, lambda: _throughput(workspace, repeats)) + guarded(
        (PEAK_RSS,), lambda: _peak_rss(workspace, repeats)
    )


def bare_loop(manifest: str, out_file: str) -> int:
    """Does the job's per-photo work in a plain Python loop, with the job's own functions.

    Per row, as the DoFns do: judge the licence (`JudgeLicenceFn`), read and hash the file,
    decode, align, encode, phash (`PreparePhotoFn` → `idphoto.data.photo`), serialise with the
    dataset's TFDS features (`_SerializeFn`), and write one TFRecord file.

    Returns:
        The number of photos written.
    """
    import tensorflow as tf

    from idphoto.data import tfds_layout
    from idphoto.data.ingest_config import load_ingest_config
    from idphoto.data.manifest import manifest_root, parse_consent, read_manifest
    from idphoto.data.photo import prepare_photo, read_source
    from idphoto.faces.detect import FaceDetector
    from idphoto.licences import load_policy

    cfg = load_ingest_config()
    policy = load_policy()
    root = manifest_root(manifest)
    detector = FaceDetector(cfg.faces.detect_max_side)
    features = tfds_layout.features(cfg.align.resolution, cfg.align.image_format)
    written = 0
    with tf.io.TFRecordWriter(out_file) as writer:
        for row in read_manifest(manifest):
            decision = policy.judge(
                row["licence"], policy.default_use, parse_consent(row["consent"])
            )
            if not decision.allowed:
                raise RuntimeError(f"{row['id']}: the bench manifest holds a rejected licence")
            source = read_source(row, root, cfg)
            photo = prepare_photo(row, source, cfg, detector)
            record = {
                **row,
                "spdx": decision.spdx,
                "class": decision.licence_class,
                "obligations": list(decision.obligations),
                "sha256": source.sha256,
                "image_bytes": photo.image_bytes,
                "aligned_landmarks": photo.landmarks.tolist(),
            }
            writer.write(features.serialize_example(tfds_layout.example(record)))
            written += 1
    return written


def run_job(manifest: str, out: str, workers: int) -> tuple[float, dict]:
    """Runs the ingest job in this process on the multi-processing DirectRunner.

    Returns:
        The wall time in seconds and the job's report.
    """
    from pipelines import ingest

    started = time.monotonic()
    report = ingest.run(
        [
            "--manifest", manifest, "--out", out, "--overwrite",
            "--runner=DirectRunner", "--direct_running_mode=multi_processing",
            f"--direct_num_workers={workers}",
        ]
    )  # fmt: skip
    return time.monotonic() - started, report


def _throughput(workspace: Workspace, repeats: int) -> list[Record]:
    count = workspace.sizes.ingest_photos
    given = workspace.manifest("ingest-given", count)
    # MTCNN costs tens of times the rest of a photo's work: a quarter of the photos keeps the
    # stage's time in bounds, compared with a job on the same quarter with landmarks given.
    detect_count = workspace.sizes.detector_photos
    given_subset = workspace.manifest("ingest-detector-given", detect_count)
    without = workspace.manifest("ingest-detector", detect_count, landmarks=False)
    single = workspace.manifest("ingest-one", 1)
    scratch = workspace.root / "ingest"
    scratch.mkdir(exist_ok=True)
    _warm_up(single, str(scratch / "warm-up"))
    samples: dict[str, list[float]] = {
        key: [] for key in ("bare", "one", "two", "detector", "detector_given")
    }
    samples.update({"start_one": [], "start_two": [], "steady_one": [], "steady_two": []})
    accepted = None
    for repeat in range(repeats):
        bare_seconds = _timed(lambda: bare_loop(given, str(scratch / "bare.tfrecord")))
        one_seconds, report = run_job(given, str(scratch / "one"), 1)
        accepted = report["by_decision"]
        two_seconds, _ = run_job(given, str(scratch / "two"), 2)
        start_one, _ = run_job(single, str(scratch / "start-one"), 1)
        start_two, _ = run_job(single, str(scratch / "start-two"), 2)
        detector_seconds, detected = run_job(without, str(scratch / "detector"), 1)
        subset_seconds, _ = run_job(given_subset, str(scratch / "detector-given"), 1)
        samples["bare"].append(count / bare_seconds)
        samples["one"].append(count / one_seconds)
        samples["two"].append(count / two_seconds)
        samples["detector"].append(detect_count / detector_seconds)
        samples["detector_given"].append(detect_count / subset_seconds)
        samples["start_one"].append(start_one)
        samples["start_two"].append(start_two)
        samples["steady_one"].append(_steady_rate(count, one_seconds, start_one))
        samples["steady_two"].append(_steady_rate(count, two_seconds, start_two))
        _LOG.info(
            "ingest repeat %d: bare %.1f s, job 1w %.1f s, 2w %.1f s, start-up %.1f/%.1f s, "
            "detector %.1f s",
            repeat + 1, bare_seconds, one_seconds, two_seconds, start_one, start_two,
            detector_seconds,
        )  # fmt: skip
    photos = (
        f"{count} photos ({workspace.sizes.photo_side} px synthetic portraits, all passing the "
        "licence filter; the job still drops near-duplicates after the per-photo work)"
    )
    return [
        ONE_WORKER.summarise(
            samples["one"],
            samples["bare"],
            f"{photos}; the job's wall time includes its start-up (see the start-up row); "
            f"baseline: bench.ingest_bench.bare_loop, the same per-photo functions in one "
            f"process; job decisions: {accepted}",
        ),
        STEADY.summarise(
            samples["steady_one"],
            samples["bare"],
            "(photos - 1) / (job wall time - wall time of a 1-photo job): the per-photo rate "
            "once the job is running; the ratio against the bare loop is the limit the job "
            "could reach if its start-up were free"
            + _noise_warning(samples["one"], samples["start_one"], count),
        ),
        STARTUP.summarise(
            samples["start_one"],
            note="wall time of the job on a manifest of one photo: pipeline construction, "
            "worker start-up, TFDS metadata, lineage and report; paid once per job",
        ),
        TWO_WORKERS.summarise(
            samples["two"],
            samples["one"],
            f"{photos}; both runs include start-up; {os.cpu_count()} cores on this machine",
        ),
        TWO_WORKERS_STEADY.summarise(
            samples["steady_two"],
            samples["steady_one"],
            f"per-photo rates once running; 1-photo job on 2 workers: "
            f"{statistics.median(samples['start_two']):.1f} s"
            + _noise_warning(samples["two"], samples["start_two"], count),
        ),
        DETECTOR.summarise(
            samples["detector"],
            samples["detector_given"],
            f"1 worker, {detect_count} photos with landmarks removed, so MTCNN locates every "
            f"face, vs the same photos with landmarks; both include start-up; decisions with "
            f"the detector: {detected['by_decision']}",
        ),
    ]


def _peak_rss(workspace: Workspace, repeats: int) -> list[Record]:
    large = workspace.sizes.ingest_photos
    small = max(1, large // 10)
    manifests = {n: workspace.manifest(f"rss-{n}", n) for n in (small, large)}
    scratch = workspace.root / "ingest-rss"
    peaks: dict[int, list[float]] = {small: [], large: []}
    processes = {}
    for _ in range(repeats):
        for photos, manifest in manifests.items():
            command = [
                sys.executable, "-m", "idphoto", "ingest", "--manifest", manifest,
                "--out", str(scratch / f"out-{photos}"), "--overwrite",
                "--runner=DirectRunner", "--direct_running_mode=multi_processing",
                f"--direct_num_workers={_RSS_WORKERS}",
            ]  # fmt: skip
            result = run_sampled(command, env=quiet_env()).check(f"idphoto ingest ({photos})")
            peaks[photos].append(result.peak_rss_bytes / 2**20)
            processes[photos] = result.peak_processes
    return [
        PEAK_RSS.summarise(
            peaks[large],
            peaks[small],
            f"{large} vs {small} photos; `idphoto ingest` in a subprocess on {_RSS_WORKERS} "
            f"workers; RSS summed over the job's process tree ({processes[large]} processes at "
            "the peak), sampled every 0.2 s; shared pages count once per process",
        )
    ]


def _warm_up(manifest: str, out: str) -> None:
    """One job and one bare photo first, so imports and file caches are not timed."""
    run_job(manifest, out, 1)
    bare_loop(manifest, out + ".tfrecord")


def _noise_warning(rates: list[float], startups: list[float], count: int) -> str:
    """A warning when the job's per-photo work is too short to tell from start-up noise."""
    work = statistics.median(
        count / rate - startup for rate, startup in zip(rates, startups, strict=True)
    )
    if work >= 0.5 * statistics.median(startups):
        return ""
    return (
        f". UNRELIABLE at this size: the photos take {work:.1f} s beyond a start-up of "
        f"{statistics.median(startups):.1f} s, within its noise; raise --scale"
    )


def _steady_rate(count: int, seconds: float, startup: float) -> float:
    return (count - 1) / max(seconds - startup, 1e-6)


def _timed(work) -> float:
    started = time.monotonic()
    work()
    return time.monotonic() - started
