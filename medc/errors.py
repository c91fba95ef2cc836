"""Errors a user can cause; the command line prints them as one line, without a traceback."""


class UserError(Exception):
    """A mistake in a path, recipe or option: the message names it and says what to do."""
