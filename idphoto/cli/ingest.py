"""`idphoto ingest`: runs the Beam ingest job (see `pipelines/ingest.py`)."""

from __future__ import annotations

import argparse
import os


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
    from tqdm import tqdm

    from idphoto.cli.quiet import filtered_stderr
    from idphoto.data import progress
    from idphoto.errors import UserError

    # The bar draws on the terminal itself: while the job runs, stderr is the filter's pipe.
    with (
        open(os.dup(2), "w") as terminal,
        tqdm(desc="rows decided", unit="row", file=terminal, disable=None) as bar,
    ):

        def set_total(rows: int) -> None:
            bar.total = rows
            bar.refresh()

        os.environ[progress.ENV] = "1"
        try:
            # Beam's and TensorFlow's start-up lines, the workers' included, are filtered; the
            # launcher needs no device, so TensorFlow's device runtime is not started here.
            # A job that fails for a reason the user must fix (a full disk) says so in one line.
            with filtered_stderr(progress.MARKER, bar.update, explained=(UserError,)):
                from pipelines import ingest

                report = ingest.run_job(args, args.extra_flags, rows_counted=set_total)
        finally:
            del os.environ[progress.ENV]
    ingest.print_summary(report, args.out)
    return 0
