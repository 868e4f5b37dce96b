"""Domain exceptions. The API maps them to problem documents in one place (app.api.problems);
the CLI maps ConfigError to one line on stderr and a non-zero exit."""

from __future__ import annotations


class PharmatrackError(Exception):
    """Base of every error the service raises on purpose."""


class ConfigError(PharmatrackError):
    """A setting is missing or wrong, or something it points at is unusable."""

    def __init__(self, setting: str, problem: str):
        super().__init__(f"{setting}: {problem}")
        self.setting = setting
        self.problem = problem


class NotFound(PharmatrackError):
    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


class ServiceUnavailable(PharmatrackError):
    """A dependency (database, chain) is down; the caller may retry later."""

    def __init__(self, component: str, problem: str, retry_after: float | None = None):
        super().__init__(f"{component}: {problem}")
        self.component = component
        self.problem = problem
        self.retry_after = retry_after  # seconds for the Retry-After header (None: the default)
