"""Errors the user can fix (bad data, config, no model yet, too little history): the CLI exits with 2."""


class BadInputError(Exception):
    """Base of every error caused by input rather than by churnguard; its message says what to fix."""


class InsufficientDataError(BadInputError, ValueError):
    """The data is valid but cannot support the request (e.g. too short a history to train)."""
