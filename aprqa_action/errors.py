"""Errors that end a command with a clear message and a documented exit code (never a traceback)."""


class AprqaError(Exception):
    """Base class: the message is for a person; `exit_code` follows the CLI's contract."""

    exit_code = 2


class InputError(AprqaError):
    """Bad usage, configuration or input file (exit 2)."""

    exit_code = 2


class InfrastructureError(AprqaError):
    """The machine cannot do the work: engine missing, disk full, ... (exit 3)."""

    exit_code = 3
