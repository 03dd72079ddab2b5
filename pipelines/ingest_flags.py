"""Flags of the ingest job, kept apart from the job so `idphoto --help` need not load Beam."""

from __future__ import annotations

import argparse


def build_parser() -> argparse.ArgumentParser:
    """Returns the parser of the job's own flags."""
    parser = argparse.ArgumentParser(
        prog="idphoto ingest",
        description="Ingest photos: licence filter, face alignment, TFRecords and lineage.",
    )
    parser.add_argument("--manifest", required=True, help="CSV, JSON Lines or ffhq-dataset-v2.json")
    parser.add_argument("--out", required=True, help="output folder (written atomically)")
    parser.add_argument(
        "--use",
        help="intended use, e.g. research or commercial (default: the policy's default_use)",
    )
    parser.add_argument(
        "--policy", help="licence policy YAML (default configs/licence_policy.yaml)"
    )
    parser.add_argument("--config", help="ingest settings YAML (default configs/ingest.yaml)")
    parser.add_argument(
        "--exclude", help="opt-out list: a file of ids, source URLs or sha256 digests, one per line"
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    return parser
