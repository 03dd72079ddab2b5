"""`idphoto sample-data`: writes the embedded sample dataset."""

from __future__ import annotations

import argparse

from idphoto.cli.arguments import integer_at_least, non_negative_int, positive_int


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds the `sample-data` subcommand."""
    parser = subparsers.add_parser(
        "sample-data",
        help="write the offline sample dataset (synthetic and public-domain portraits)",
        description=(
            "Write synthetic portraits with their true landmarks, two public-domain portraits "
            "shipped by installed packages, and a manifest.csv with a realistic licence mix."
        ),
    )
    parser.add_argument("--out", required=True, help="folder to write into")
    parser.add_argument("--n", type=positive_int, default=40, help="number of synthetic portraits")
    parser.add_argument(
        "--seed", type=non_negative_int, default=0, help="seed of the synthetic portraits"
    )
    parser.add_argument(
        "--size",
        type=integer_at_least(128),
        default=256,
        help="side of the synthetic portraits, px",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from idphoto.sample_data.manifest import write_sample_dataset

    with tqdm(total=args.n, desc="portraits", unit="photo", disable=None) as progress:
        manifest = write_sample_dataset(
            args.out, args.n, args.seed, args.size, args.overwrite, progress=progress.update
        )
    print(f"wrote {manifest}")
    return 0
