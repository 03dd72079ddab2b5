"""Ingest job: manifest → licence decision → aligned faces → TFRecords + licence lineage.

Run it through `idphoto ingest` (or `make ingest`), or directly:

    python -m pipelines.ingest --manifest data/sample/manifest.csv --out data/ingested

Flags not listed by `--help` go to Beam's `PipelineOptions` (`--runner`, `--project`, ...).
Without `--runner` the job runs on Beam's DirectRunner in multi-processing mode on every core.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Sequence

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import DebugOptions, PipelineOptions

from idphoto import publish
from idphoto.config import parse_override
from idphoto.data import dataset, lineage, outputs, tfds_layout
from idphoto.data.digest import RecordDigestFn, canonical_example
from idphoto.data.ingest_config import IngestConfig, load_ingest_config
from idphoto.data.manifest import count_rows, manifest_root
from idphoto.data.transforms import (
    METRICS_NAMESPACE,
    REJECTED,
    CountLineageFn,
    Deduplicate,
    JudgeLicenceFn,
    PreparePhotoFn,
    ReadManifest,
    RejectDuplicateIds,
    holdout_split,
)
from idphoto.errors import UserError
from idphoto.licences import Policy, default_policy_path, parse_policy, read_policy_text
from pipelines.ingest_flags import build_parser


def run(argv: Sequence[str] | None = None) -> dict:
    """Parses the job's flags (the rest go to Beam's `PipelineOptions`) and runs it.

    Args:
        argv: command-line arguments; unknown ones are passed to Beam's `PipelineOptions`.

    Returns:
        The ingest report.
    """
    args, beam_args = build_parser().parse_known_args(argv)
    return run_job(args, beam_args)


def run_job(
    args: argparse.Namespace,
    beam_args: Sequence[str],
    rows_counted: Callable[[int], object] | None = None,
) -> dict:
    """Runs the ingest job for parsed flags and returns its report.

    Args:
        args: the job's own flags, as `pipelines.ingest_flags.build_parser` parses them.
        beam_args: flags for Beam's `PipelineOptions`.
        rows_counted: called with the manifest's row count before the job starts (a progress
            bar's total).

    Raises:
        UserError: on bad flags, a malformed manifest or an unwritable output folder, before any
            photo is processed.
    """
    cfg = load_ingest_config(args.config, dict(parse_override(s) for s in args.set))
    policy_text = read_policy_text(args.policy)
    policy = parse_policy(policy_text, args.policy or default_policy_path())
    use = args.use or policy.default_use
    policy.check_use(use)
    opted_out = _read_opt_out(args.exclude)
    rows_in = count_rows(args.manifest)  # fails on a malformed manifest before any work
    if rows_counted is not None:
        rows_counted(rows_in)
    staging = publish.prepare_staging(args.out, args.overwrite)
    try:
        started = time.monotonic()
        options = pipeline_options(beam_args)
        with beam.Pipeline(options=options) as pipeline:
            build_pipeline(pipeline, args.manifest, staging, cfg, policy, use, opted_out)
        counters = _counters(pipeline.result)
        splits = outputs.finish_dataset(
            staging,
            cfg.output.dataset_name,
            cfg.align.resolution,
            cfg.align.image_format,
            use,
            policy_text,
        )
        content = outputs.collect_digests(staging, dataset.SPLITS)
        summary = outputs.lineage_summary(staging)
        if summary["rows"] != rows_in:  # the job's central promise: nothing is lost silently
            raise RuntimeError(f"lineage has {summary['rows']} rows for {rows_in} manifest rows")
        if summary["accepted_by_split"] != splits:  # nor an accepted photo's example
            raise UserError(
                f"the job wrote examples {splits or 'none'} but its lineage accepts "
                f"{summary['accepted_by_split']}: records were lost; nothing was published"
            )
        report = {
            "manifest": args.manifest
            if publish.is_remote(args.manifest)
            else os.path.abspath(args.manifest),
            "made_with": dataset.made_with_record(
                use, str(args.policy or default_policy_path()), policy.digest, cfg
            ),
            "rows_in": rows_in,
            "rows_out": summary["rows"],
            **_counts(counters, summary),
            "splits": splits,
            "content_sha256": content,
            "runner": options.get_all_options()["runner"] or "DirectRunner",
            "options": _options_for_report(options),
            "elapsed_seconds": round(time.monotonic() - started, 3),
        }
        outputs.write_report(staging, report)
        publish.publish(staging, args.out, last=dataset.INFO_FILE)
    except BaseException as err:
        publish.discard(staging)
        storage = _storage_error(err)
        if storage:
            raise UserError(f"cannot write the dataset under {args.out}: {storage}") from err
        raise
    return report


# A full disk, a file-size or quota limit, a read-only or forbidden folder: the user's to fix.
# Beam wraps a worker's OSError in its own error, so the errno is read from the message too.
_STORAGE_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EACCES)
_ERRNO_IN_TEXT = re.compile(r"\[Errno (\d+)\] ([^\]\['\n]+)")


def _storage_error(err: BaseException) -> str | None:
    if isinstance(err, OSError) and err.errno in _STORAGE_ERRNOS:
        return f"[Errno {err.errno}] {err.strerror}"
    for match in _ERRNO_IN_TEXT.finditer(str(err)):
        if int(match.group(1)) in _STORAGE_ERRNOS:
            return f"[Errno {match.group(1)}] {match.group(2).strip()}"
    return None


def pipeline_options(beam_args: Sequence[str]) -> PipelineOptions:
    """Returns Beam options; without `--runner`, the DirectRunner on every core."""
    args = list(beam_args)
    if not any(a == "--runner" or a.startswith("--runner=") for a in args):
        args += [
            "--runner=DirectRunner",
            "--direct_running_mode=multi_processing",
            f"--direct_num_workers={os.cpu_count() or 1}",
        ]
    if not any(a.startswith("--default_sdk_harness_log_level") for a in args):
        # Workers log every INFO line of the SDK harness by default; keep our progress lines only.
        args += [
            "--default_sdk_harness_log_level=WARNING",
            '--sdk_harness_log_level_overrides={"idphoto": "INFO"}',
        ]
    options = PipelineOptions(args)
    if options.get_all_options()["runner"] in ("PrismRunner", "prism"):
        # Beam keeps one Prism job server per process, made with the options of the first job
        # that asked for one; the DirectRunner asks too (it tries Prism before its own runner),
        # so a later Prism job in the same process would lose its --prism_location.
        options.view_as(DebugOptions).add_experiment("disable_prism_server_singleton")
    return options


def build_pipeline(
    pipeline: beam.Pipeline,
    manifest: str,
    out_dir: str,
    cfg: IngestConfig,
    policy: Policy,
    use: str,
    opted_out: frozenset[str],
) -> None:
    """Adds the ingest steps to `pipeline`, writing into `out_dir`."""
    rows = pipeline | "ReadManifest" >> ReadManifest(manifest)
    ids = rows | "RejectDuplicateIds" >> RejectDuplicateIds()
    judged = ids.unique | "JudgeLicence" >> beam.ParDo(
        JudgeLicenceFn(policy, use, opted_out)
    ).with_outputs(REJECTED, main="allowed")
    prepared = judged.allowed | "PreparePhoto" >> beam.ParDo(
        PreparePhotoFn(manifest_root(manifest), cfg, opted_out)
    ).with_outputs(REJECTED, main="prepared")
    deduped = prepared.prepared | "Deduplicate" >> Deduplicate(
        cfg.dedup.hash_size**2, cfg.dedup.max_distance
    )
    accepted = deduped["kept"] | "AssignSplit" >> beam.Map(
        lambda r: {**r, "split": holdout_split(r["id"], cfg.split.salt, cfg.split.holdout_percent)}
    )
    _ = accepted | "WriteExamples" >> WriteExamples(out_dir, cfg)
    accepted_rows = accepted | "AcceptedLineage" >> beam.Map(
        lambda r: lineage.lineage_row(r, lineage.ACCEPTED, "ok")
    )
    _ = (
        (accepted_rows, ids[REJECTED], judged[REJECTED], prepared[REJECTED], deduped[REJECTED])
        | "AllLineageRows" >> beam.Flatten()
        | "CountLineage" >> beam.ParDo(CountLineageFn())
        | "WriteLineage"
        >> beam.io.WriteToParquet(
            file_path_prefix=dataset.join(out_dir, dataset.LINEAGE_FILE),
            schema=lineage.SCHEMA,
            num_shards=1,
            shard_name_template="",
        )
    )


class WriteExamples(beam.PTransform):
    """Serialises accepted records as TFDS examples and writes one set of shards per split."""

    def __init__(self, out_dir: str, cfg: IngestConfig):
        super().__init__()
        self._out_dir = out_dir
        self._cfg = cfg

    def expand(self, accepted):
        splits = accepted | "BySplit" >> beam.Partition(
            lambda r, _: dataset.SPLITS.index(r["split"]), len(dataset.SPLITS)
        )
        for split, records in zip(dataset.SPLITS, splits, strict=True):
            examples = records | f"Serialize{split.title()}" >> beam.ParDo(_SerializeFn(self._cfg))
            _ = examples | f"Write{split.title()}" >> beam.io.WriteToTFRecord(
                dataset.shard_prefix(self._out_dir, self._cfg.output.dataset_name, split),
                num_shards=self._cfg.output.num_shards,
            )
            _ = (
                examples
                | f"Digest{split.title()}" >> beam.CombineGlobally(RecordDigestFn())
                | f"WriteDigest{split.title()}"
                >> beam.io.WriteToText(
                    dataset.digest_path(self._out_dir, split), num_shards=1, shard_name_template=""
                )
            )
        return accepted.pipeline | "ExamplesWritten" >> beam.Create([None])


class _SerializeFn(beam.DoFn):
    """Encodes a record with the dataset's TFDS feature spec."""

    def __init__(self, cfg: IngestConfig):
        self._cfg = cfg
        self._features = None

    def setup(self):
        self._features = tfds_layout.features(
            self._cfg.align.resolution, self._cfg.align.image_format
        )

    def process(self, record):
        # Canonical bytes: two ingests of the same photos write identical records.
        yield canonical_example(self._features.serialize_example(tfds_layout.example(record)))


def _read_opt_out(path: str | None) -> frozenset[str]:
    if not path:
        return frozenset()
    try:
        with open(path, encoding="utf-8") as handle:
            entries = (line.strip() for line in handle)
            return frozenset(e for e in entries if e and not e.startswith("#"))
    except OSError as err:
        raise UserError(f"cannot read --exclude {path}: {err.strerror}") from None


def _counters(result) -> dict[str, int]:
    totals: dict[str, int] = {}
    query = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
    for counter in query["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + (value or 0)
    return totals


def _counts(counters: dict[str, int], summary: dict) -> dict:
    """The report's counts by decision, reason and class: from the runner's metrics when it
    reports them (`counted_from` says which), else from the lineage the job wrote."""
    from_metrics = {
        f"by_{name}": outputs.counters_by_prefix(counters, name)
        for name in ("decision", "reason", "class")
    }
    if all(from_metrics.values()):
        return {**from_metrics, "counted_from": "runner metrics"}
    lineage_counts = {key: summary[key] for key in from_metrics}
    return {**lineage_counts, "counted_from": "lineage (the runner reported no metrics)"}


def _options_for_report(options: PipelineOptions) -> dict:
    return {k: v for k, v in options.get_all_options(drop_default=True).items()}


def print_summary(report: dict, out: str) -> None:
    """Prints the report's counts, and on stderr when no photo was accepted."""
    print(outputs.format_summary(report))
    if not report["splits"]:
        print(
            f"no photo was accepted: {out} holds the lineage and report only, no TFRecords",
            file=sys.stderr,
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the job from the command line and prints its summary."""
    logging.getLogger().setLevel(logging.WARNING)
    args, beam_args = build_parser().parse_known_args(argv)
    try:
        report = run_job(args, beam_args)
    except UserError as err:
        print(f"idphoto ingest: error: {err}", file=sys.stderr)
        return 2
    print_summary(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
