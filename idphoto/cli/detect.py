"""`idphoto detect`: reports the watermark id, Content Credentials and XMP label of image files."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds the `detect` subcommand."""
    parser = subparsers.add_parser(
        "detect",
        help="find the AI-generation labels of images: watermark, Content Credentials, XMP",
        description=(
            "For each image, report the invisible watermark's photo id (found without the "
            "original, after JPEG, resizing, cropping or a screenshot), the C2PA Content "
            "Credentials' state (valid, untrusted, invalid, absent) and the XMP label. Exits "
            "1 when a file carries none of the three."
        ),
    )
    parser.add_argument("photos", nargs="+", metavar="PHOTO", help="image files")
    parser.add_argument(
        "--ca",
        metavar="PEM",
        help="CA certificate the credentials must chain to (default: ca.pem of the key folder)",
    )
    parser.add_argument(
        "--manifest",
        metavar="FILE",
        help="a generation manifest.json: name the photo each watermark id belongs to",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per file")
    parser.set_defaults(func=_run)


def default_ca(given: str | None) -> str | None:
    """The trust anchor: `given`, else the default key folder's ca.pem if there is one."""
    if given:
        return given
    from idphoto.generation.signing_keys import default_key_folder, key_paths

    ca = key_paths(default_key_folder()).ca
    return str(ca) if ca.exists() else None


def _run(args: argparse.Namespace) -> int:
    from idphoto.errors import UserError
    from idphoto.generation.inspection import inspect_photo, manifest_index

    ca = default_ca(args.ca)
    photos = manifest_index(args.manifest) if args.manifest else None
    unlabelled = 0
    for path in args.photos:
        try:
            report = inspect_photo(path, ca, photos)
        except UserError as err:
            print(json.dumps({"file": path, "error": str(err)}) if args.json else f"{path}: {err}")
            unlabelled += 1
            continue
        unlabelled += not report.labelled
        print(json.dumps(report.to_dict()) if args.json else _line(report.to_dict()))
    return 1 if unlabelled else 0


def _line(report: dict) -> str:
    mark = report["watermark"]
    found = f"watermark {mark['id']}" if mark["found"] else "no watermark"
    if mark["found"] and mark["scale"] not in (None, 1.0):
        found += f" (at {mark['scale']:g}x)"
    c2pa = report["c2pa"]
    credentials = f"c2pa {c2pa['state']}"
    if c2pa["failures"]:
        credentials += f" ({', '.join(c2pa['failures'])})"
    source_type = report["xmp"].get("digital_source_type", "")
    xmp = f"xmp {source_type.rsplit('/', 1)[-1]}" if source_type else "no xmp label"
    line = f"{report['file']}: {found}; {credentials}; {xmp}"
    if report["generated_as"]:
        entry = report["generated_as"]
        line += f"; generated as {entry['file']} by {entry['model']['uri']}"
    return line
