"""Runs the benchmarks, writes `bench/results.json` and prints it as a table.

    python -m bench.run                          # every stage at scale 1, 3 repeats (make bench)
    python -m bench.run --scale 0.1 --repeats 1  # a smoke run of a few minutes
    python -m bench.run --only ingest,generate --scale 4
    python -m bench.run --tests                  # also time the test suite (minutes)

Each figure is a ratio against a baseline measured in the same repeat on the same data, and
each record holds the medians over `--repeats` repeats, so the table holds on a noisy machine.
A stage that fails gives records with `pass: false` and the error in `note`; the other stages
still run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

STAGES = ("ingest", "train", "generate", "labels", "quality", "tests")
DEFAULT_OUT = str(Path(__file__).resolve().parent / "results.json")
_LOG = logging.getLogger("bench")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Reads and validates the flags; each error names its flag.

    Args:
        argv: arguments without the program name; None reads sys.argv.
    """
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="work multiplier: photos and steps (default 1)"
    )
    parser.add_argument(
        "--photo-side",
        type=int,
        default=256,
        help="side of the generated portraits ingest reads, px (default 256; camera photos "
        "are larger, which makes the per-photo work larger than the job's start-up)",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs of every measure; medians are reported"
    )
    parser.add_argument(
        "--only", default=",".join(STAGES), metavar="STAGE[,STAGE]", help="stages to run"
    )
    parser.add_argument("--out", default=DEFAULT_OUT, help="results file (JSON list of records)")
    parser.add_argument(
        "--tests", action="store_true", help="time `pytest -q` too (else the last time is kept)"
    )
    parser.add_argument(
        "--workdir", help="scratch folder, kept afterwards (default: a temp folder, removed)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the resolved settings and stop"
    )
    args = parser.parse_args(argv)
    if not args.scale > 0:
        parser.error(f"--scale must be positive, got {args.scale}")
    if args.photo_side < 64:
        parser.error(f"--photo-side must be at least 64, got {args.photo_side}")
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    args.only = [stage.strip() for stage in args.only.split(",") if stage.strip()]
    unknown = [stage for stage in args.only if stage not in STAGES]
    if unknown or not args.only:
        parser.error(f"--only takes stages from {', '.join(STAGES)}; got {unknown or 'none'}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the selected stages and writes the results; returns the exit code."""
    args = parse_args(argv)
    # Libraries that build Beam's PipelineOptions() without flags parse sys.argv and warn about
    # ours; the flags are read, so they are taken off.
    sys.argv[1:] = []
    _quiet_libraries()
    from bench.workspace import Sizes

    sizes = Sizes.from_scale(args.scale, args.photo_side)
    settings = {
        "stages": args.only,
        "repeats": args.repeats,
        "sizes": {**vars(sizes), "train_steps": sizes.train_steps},
        "tests": args.tests or args.only == ["tests"],
        "out": args.out,
        "cores": os.cpu_count(),
    }
    print(json.dumps(settings, indent=2))
    if args.dry_run:
        return 0
    from bench import results
    from bench.workspace import Workspace, scratch_root

    previous = results.read_json(args.out)
    root = scratch_root(args.workdir)
    workspace = Workspace(root, sizes)
    records: list[results.Record] = []
    durations = {}
    started = time.monotonic()
    try:
        for stage in args.only:
            stage_started = time.monotonic()
            _LOG.info("stage %s", stage)
            records += _run_stage(stage, workspace, args.repeats, settings["tests"], previous)
            durations[stage] = round(time.monotonic() - stage_started)
            results.write_json(records, args.out)  # what is done survives a later crash
    finally:
        if not args.workdir:
            shutil.rmtree(root, ignore_errors=True)
    print()
    print(results.format_table(records))
    met = sum(r.passed is True for r in records)
    held = sum(r.passed is not None for r in records)
    wall = time.monotonic() - started
    print(f"\n{met} of {held} targets met; wall time {wall:.0f} s {durations}; wrote {args.out}")
    return 0


def _run_stage(stage, workspace, repeats: int, tests: bool, previous) -> list:
    if stage == "ingest":
        from bench import ingest_bench

        return ingest_bench.run(workspace, repeats)
    if stage == "train":
        from bench import train_bench

        return train_bench.run(workspace, repeats)
    if stage == "generate":
        from bench import generate_bench

        return generate_bench.run(workspace, repeats)
    if stage == "labels":
        from bench import labels_bench

        return labels_bench.run(workspace, repeats)
    if stage == "quality":
        from bench import quality_bench

        return quality_bench.run(workspace, repeats)
    from bench import tests_bench

    return tests_bench.run(tests, previous)


def _quiet_libraries() -> None:
    """Keeps the bench's own progress lines and drops the libraries' start-up chatter."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.basicConfig(format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger().setLevel(logging.WARNING)
    _LOG.setLevel(logging.INFO)
    # Beam relays every worker's warnings through this logger, once per job.
    logging.getLogger("apache_beam.runners.portability.local_job_service").setLevel(logging.ERROR)


if __name__ == "__main__":
    sys.exit(main())
