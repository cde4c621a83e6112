"""User-facing errors: the CLI prints these as one line and exits non-zero."""


class ElectraError(Exception):
    """A problem with the user's input (files, config, checkpoint) rather than a bug.

    The message must name the problem and the file or key concerned; the CLI prints it as a
    single line without a traceback.
    """
