"""The bulk layer's one error type for bad usage or input: one line, exit code 2."""


class UsageError(Exception):
    """Bad parameters, an unreadable file, an unreachable server, a refused key: the command
    stops with this one line and exit code 2."""
