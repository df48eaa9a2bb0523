"""Errors a user can act on. The CLI prints their message on one line and exits with `exit_code`."""


class RepotuneError(Exception):
    """Base class: a clear, one-line, user-facing message. Never carries a secret."""

    exit_code = 1


class ConfigError(RepotuneError):
    """The run config is invalid (unknown key, wrong type, bad value)."""

    exit_code = 2


class StoreError(RepotuneError):
    """The object store cannot be reached, refused the credentials, or lacks the bucket/key."""

    exit_code = 3


class StepError(RepotuneError):
    """A step failed on its input (bad source, empty dataset, gate not passed...)."""

    exit_code = 4


class GateFailed(StepError):
    """The evaluation gate did not pass: the pipeline stops before deploy."""

    exit_code = 5
