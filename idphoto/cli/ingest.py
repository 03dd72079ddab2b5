"""`idphoto ingest`: runs the Beam ingest job (see `pipelines/ingest.py`)."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds the `ingest` subcommand."""
    from pipelines.ingest_flags import build_parser

    parser = subparsers.add_parser(
        "ingest",
        parents=[build_parser()],
        conflict_handler="resolve",
        help="filter photos by licence, align faces, write TFRecords and the licence lineage",
        description=(
            "Filter photos by licence, align faces into ID framing and write TFDS TFRecords, "
            "lineage.parquet, ATTRIBUTION.md and ingest_report.json. Flags not listed here "
            "(--runner, --project, --temp_location, ...) are passed to Beam's PipelineOptions."
        ),
    )
    parser.set_defaults(func=_run, passes_extra_flags=True)


def _run(args: argparse.Namespace) -> int:
    from idphoto.data.outputs import format_summary
    from pipelines import ingest

    argv = ["--manifest", args.manifest, "--out", args.out]
    for flag in ("use", "policy", "config", "exclude"):
        value = getattr(args, flag)
        if value is not None:
            argv += [f"--{flag}", value]
    for override in args.set:
        argv += ["--set", override]
    if args.overwrite:
        argv.append("--overwrite")
    report = ingest.run(argv + list(args.extra_flags))
    print(format_summary(report))
    if not report["splits"]:
        print(
            f"no photo was accepted: {args.out} holds the lineage and report only, no TFRecords",
            file=sys.stderr,
        )
    return 0
