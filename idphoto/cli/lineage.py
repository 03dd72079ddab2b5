"""`idphoto lineage`: where a photo went, and what a run was trained on."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds the `lineage trace` and `lineage show` subcommands."""
    parser = subparsers.add_parser(
        "lineage", help="trace a photo to runs and model versions; show a run's licence summary"
    )
    commands = parser.add_subparsers(dest="lineage_command", metavar="ACTION", required=True)
    trace = commands.add_parser(
        "trace",
        help="list every dataset, run and model version (with aliases) a photo reached",
        description="Find a photo in the lineage of every training run on the tracking server.",
    )
    which = trace.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", help="the photo's manifest id")
    which.add_argument("--sha256", help="the photo's pixel sha256 (from lineage.parquet)")
    which.add_argument("--source-url", help="the photo's source URL")
    trace.add_argument("--json", action="store_true", help="print JSON instead of a table")
    trace.set_defaults(func=_trace)
    show = commands.add_parser(
        "show",
        help="print a run's licence summary, quality, gates and model versions",
        description="Print what a training run was trained on and where its model went.",
    )
    show.add_argument("--run", required=True, help="MLflow run id, or `latest`")
    show.add_argument("--json", action="store_true", help="print JSON instead of tables")
    show.set_defaults(func=_show)


def _trace(args: argparse.Namespace) -> int:
    import dataclasses

    from idphoto.errors import UserError
    from idphoto.registry.trace import trace
    from idphoto.tracking.runs import check_tracking_server

    field, value = next(
        (f, getattr(args, f))
        for f in ("id", "sha256", "source_url")
        if getattr(args, f) is not None
    )
    if not value.strip():
        raise UserError(f"--{field.replace('_', '-')} must not be empty")
    uri = check_tracking_server(read_only=True)
    hits = trace(field, value)
    if args.json:
        print(json.dumps([dataclasses.asdict(h) for h in hits], indent=2))
        return 0
    if not hits:
        print(f"no training run's lineage on {uri} lists a photo with {field} {value}")
        return 0
    for hit in hits:
        print(
            f"dataset {hit.content_sha256[:16]}  photo {hit.photo_id}  {hit.decision} "
            f"({hit.reason}){'  split ' + hit.split if hit.split else ''}"
        )
        for run in hit.runs:
            print(f"  run {run.run_id}  {run.run_name}")
            for v in run.versions:
                aliases = f"  @{', @'.join(v.aliases)}" if v.aliases else ""
                print(f"    model {v.name} version {v.version}{aliases}")
    reached = sum(len(h.runs) for h in hits)
    print(f"{len(hits)} dataset(s) list the photo; it trained {reached} run(s) (searched {uri})")
    return 0


def _show(args: argparse.Namespace) -> int:
    from idphoto.registry.trace import format_run_summary, run_summary
    from idphoto.tracking.runs import check_tracking_server

    check_tracking_server(read_only=True)
    summary = run_summary(args.run)
    print(
        json.dumps(summary, indent=2, sort_keys=True) if args.json else format_run_summary(summary)
    )
    return 0
