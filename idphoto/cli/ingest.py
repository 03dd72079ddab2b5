"""`idphoto ingest`: runs the Beam ingest job (see `pipelines/ingest.py`)."""

from __future__ import annotations

import argparse


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
    from idphoto.cli.quiet_tensorflow import import_tensorflow

    import_tensorflow(find_devices=False)
    from pipelines import ingest

    report = ingest.run_job(args, args.extra_flags)
    ingest.print_summary(report, args.out)
    return 0
