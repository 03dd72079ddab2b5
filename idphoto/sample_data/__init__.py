"""The embedded sample dataset: procedurally drawn portraits, real public-domain portraits that
installed packages ship, and a manifest with a licence mix as found in the wild."""

from idphoto.sample_data.manifest import MANIFEST, write_sample_dataset
from idphoto.sample_data.portraits import Portrait, draw_portrait

__all__ = ["MANIFEST", "Portrait", "draw_portrait", "write_sample_dataset"]
