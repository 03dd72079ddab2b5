"""Allows `python -m idphoto`."""

import sys

from idphoto.cli import main

sys.exit(main())
