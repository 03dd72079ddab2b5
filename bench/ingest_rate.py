"""Ingest throughput on generated sample data, with landmarks given and with the detector.

Run: .venv/bin/python bench/ingest_rate.py --n 200 [--workers 2] [--repeats 1]

Writes `--n` synthetic portraits with `idphoto sample-data`, then runs the ingest job twice on
them: once with the manifest's landmarks, once with the landmarks removed so MTCNN finds every
face. Prints photos/s of each run (manifest rows over the job's wall time, start-up included)
and the ratio.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import tempfile
import time
from pathlib import Path

from idphoto.sample_data.manifest import write_sample_dataset
from pipelines import ingest


def _strip_landmarks(manifest: Path) -> Path:
    with open(manifest, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    out = manifest.with_name("manifest-no-landmarks.csv")
    with open(out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**r, "landmarks": ""} for r in rows)
    return out


def _rate(manifest: Path, out: Path, workers: int, repeats: int) -> dict:
    rates = []
    for _ in range(repeats):
        started = time.monotonic()
        report = ingest.run(
            [
                "--manifest", str(manifest), "--out", str(out), "--overwrite",
                "--runner=DirectRunner", "--direct_running_mode=multi_processing",
                f"--direct_num_workers={workers}",
            ]
        )  # fmt: skip
        rates.append(report["rows_in"] / (time.monotonic() - started))
    return {"photos_per_s": statistics.median(rates), "rows": report["rows_in"]}


def main() -> None:
    """Runs the measurement and prints JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="synthetic portraits")
    parser.add_argument("--workers", type=int, default=2, help="DirectRunner worker processes")
    parser.add_argument("--repeats", type=int, default=1, help="runs per case (median reported)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        manifest = Path(write_sample_dataset(str(root / "sample"), args.n, seed=0))
        given = _rate(manifest, root / "given", args.workers, args.repeats)
        detected = _rate(_strip_landmarks(manifest), root / "detected", args.workers, args.repeats)
    result = {
        "landmarks_given": given,
        "detector": detected,
        "detector_over_given": round(detected["photos_per_s"] / given["photos_per_s"], 3),
        "workers": args.workers,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
