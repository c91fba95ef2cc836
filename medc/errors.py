"""Errors a user can cause; the command line prints them as one line, without a traceback."""


class UserError(Exception):
    """A mistake in a path, recipe or option: the message names it and says what to do."""


class NothingToBuild(UserError):
    """None of a recipe's sources has input files under the sources root."""
