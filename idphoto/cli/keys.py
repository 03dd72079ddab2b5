"""`idphoto keys init`: makes the local CA and certificate generated photos are signed with."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds the `keys` subcommand."""
    parser = subparsers.add_parser(
        "keys",
        help="make the keys generated photos' Content Credentials are signed with",
        description=(
            "Manage the signing keys of C2PA Content Credentials. `keys init` makes a local CA "
            "and a signing certificate it issues (ES256); `generate` signs every photo with it "
            "and verifiers trust ca.pem. The folder is $IDPHOTO_KEYS, else "
            "~/.config/idphoto/keys; the private key is written with mode 0600."
        ),
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    actions.required = True
    init = actions.add_parser("init", help="make a local CA and a signing certificate")
    init.add_argument(
        "--keys", metavar="DIR", help="key folder (default $IDPHOTO_KEYS or ~/.config/idphoto/keys)"
    )
    init.add_argument(
        "--name",
        default="idphoto local signer",
        help="the signer's name, shown by Content Credentials readers (idphoto local signer)",
    )
    init.add_argument("--overwrite", action="store_true", help="replace keys already there")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from idphoto.errors import UserError
    from idphoto.generation.signing_keys import default_key_folder, init_keys

    if not args.name.strip():
        raise UserError("--name must not be empty")
    paths = init_keys(args.keys or default_key_folder(), args.name, args.overwrite)
    print(f"signing certificate: {paths.chain}")
    print(f"private key (0600): {paths.key}")
    print(f"CA certificate to give verifiers: {paths.ca}")
    return 0
