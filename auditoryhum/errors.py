"""The one exception type a user can act on."""


class UserError(Exception):
    """A problem with the user's input or environment (missing file, bad CSV, row mismatch...).

    Entry points print it as a single ``error: ...`` line and exit with status 2, instead of a
    traceback. The message must name the file or flag involved.
    """
