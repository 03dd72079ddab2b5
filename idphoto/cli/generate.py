"""`idphoto generate`: writes ID photos from a generator in MLflow, labelled as AI-generated."""

from __future__ import annotations

import argparse
import json

from idphoto.cli.arguments import non_negative_int, positive_int


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds the `generate` subcommand."""
    parser = subparsers.add_parser(
        "generate",
        help="write ID photos from a trained generator, labelled as AI-generated",
        description=(
            "Write N ID photos from an MLflow model at an ID-photo preset's pixel size, print "
            "resolution and background (configs/presets.yaml), each labelled as AI-generated in "
            "its XMP metadata (IPTC DigitalSourceType trainedAlgorithmicMedia, model name, "
            "version and run id) and by a visible corner mark, with a manifest.json beside them. "
            "The tracking store is MLFLOW_TRACKING_URI."
        ),
    )
    parser.add_argument(
        "--model",
        metavar="MODEL_URI",
        help="models:/NAME@ALIAS, models:/NAME/VERSION, models:/m-ID or runs:/RUN_ID/generator",
    )
    parser.add_argument("--n", type=positive_int, help="number of photos")
    parser.add_argument("--preset", help="ID-photo size preset (see --list-presets)")
    parser.add_argument("--out", help="folder to write; must be new or empty unless --overwrite")
    parser.add_argument(
        "--seed",
        type=non_negative_int,
        default=0,
        help="seed of the latents; photo i uses (seed, i) (0)",
    )
    parser.add_argument(
        "--batch-size", type=positive_int, default=16, help="photos per generator call (16)"
    )
    parser.add_argument(
        "--format", choices=("png", "jpeg"), default="png", help="image format (png)"
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        help="processes that frame, label and sign the photos (default: one per core; 1 "
        "labels them in the generating process)",
    )
    parser.add_argument(
        "--no-visible-label",
        dest="visible_label",
        action="store_false",
        help="leave out the visible AI-generated mark (the metadata label is always written)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace a non-empty --out and all it holds"
    )
    parser.add_argument(
        "--keys",
        metavar="DIR",
        help="folder of the keys that sign each photo's Content Credentials (default "
        "$IDPHOTO_KEYS or ~/.config/idphoto/keys; make them with `idphoto keys init`)",
    )
    parser.add_argument(
        "--ca",
        metavar="PEM",
        help="with --verify: the CA certificate the credentials must chain to (default: ca.pem "
        "of the key folder)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="write only photos inside every band of the preset's geometry (head height, eye "
        "line, eye distance, centring, roll, plain background); the rest are listed in the "
        "manifest as dropped",
    )
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument("--list-presets", action="store_true", help="print the presets and stop")
    modes.add_argument(
        "--verify",
        nargs="+",
        metavar="FILE",
        help="check the XMP label and the signed Content Credentials of image files; exits 1 "
        "if a file has no label or its credentials are not valid (tampered, unsigned, or "
        "signed under another CA)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from idphoto.errors import UserError

    generation_flags = ("model", "n", "preset", "out")
    if args.list_presets or args.verify:
        mode = "--list-presets" if args.list_presets else "--verify"
        given = [f"--{flag}" for flag in generation_flags if getattr(args, flag) is not None]
        if given:
            raise UserError(f"{mode} cannot be combined with {given[0]}")
        return _list_presets() if args.list_presets else _verify(args.verify, args.ca)

    for flag in generation_flags:
        if getattr(args, flag) is None:
            raise UserError(f"--{flag} is required (or use --list-presets / --verify)")
    if not args.out.strip():
        raise UserError("--out must not be empty")

    from idphoto.generation.presets import load_presets

    load_presets().preset(args.preset)  # an unknown preset fails before MLflow is imported

    # MLflow and TensorFlow are imported only now: flag errors above come back in a moment.
    from idphoto.cli.quiet import import_tensorflow

    import_tensorflow()
    from idphoto.generation.generate import generate_photos

    summary = generate_photos(
        model_uri=args.model,
        n=args.n,
        preset_name=args.preset,
        out_dir=args.out,
        seed=args.seed,
        batch_size=args.batch_size,
        visible_label=args.visible_label,
        image_format=args.format,
        overwrite=args.overwrite,
        strict=args.strict,
        keys=args.keys,
        workers=args.workers,
    )
    model = summary.model
    source = f"{model.name} v{model.version}" if model.name else model.uri
    print(
        f"wrote {summary.count} photos ({summary.preset}, {summary.width_px}x{summary.height_px} "
        f"px) from {source} (run {model.run_id or 'unknown'}) to {summary.out_dir}"
    )
    kept = summary.count - summary.recoloured
    if kept:
        print(f"{kept} of {summary.count} kept their generated background (it was not plain)")
    if summary.outside:
        bands = ", ".join(f"{band} {count}" for band, count in summary.outside_bands.items())
        attempted = summary.count + summary.dropped
        if args.strict:
            print(f"dropped {summary.dropped} of {attempted} outside the preset's bands ({bands})")
        else:
            print(
                f"{summary.outside} of {attempted} outside the preset's bands ({bands}): see "
                "'geometry' in the manifest; --strict writes only photos inside them"
            )
    print(f"manifest: {summary.manifest}")
    return 0


def _list_presets() -> int:
    from idphoto.generation.presets import load_presets, presets_table

    print(presets_table(load_presets()))
    return 0


def _verify(paths: list[str], ca: str | None) -> int:
    """Prints one JSON object per file; exit code 1 unless every file carries its label and
    valid Content Credentials."""
    from idphoto.cli.detect import default_ca
    from idphoto.generation.credentials import verify_photo
    from idphoto.generation.labelling import read_label

    ca = default_ca(ca)
    failed = 0
    for path in paths:
        label = read_label(path)
        credentials = verify_photo(path, ca)
        labelled = bool(label.get("digital_source_type"))
        failed += not labelled or credentials.state != "valid"
        report = {
            "file": path,
            "ai_generated_label": labelled,
            "c2pa": credentials.state,
            "c2pa_failures": list(credentials.failures),
            "c2pa_reason": credentials.reason,
            **label,
        }
        print(json.dumps(report))
    return 1 if failed else 0
