"""Errors: mistakes a user can fix, and photos that cannot be used."""


class UserError(Exception):
    """A problem the user can fix; the CLI prints its message as one line and exits non-zero."""


class PhotoRejected(Exception):
    """A photo that cannot be used: a snake_case `reason` code for the lineage and a `detail`."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
