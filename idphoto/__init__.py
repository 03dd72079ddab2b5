"""idphoto: licence-aware training of ID-photo generators with provable data lineage."""

__version__ = "0.1.0"
