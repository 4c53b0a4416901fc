"""One error hierarchy for the whole platform.

Every expected failure is a `BorderflowError` with an HTTP status code; the web layer and the
CLI turn it into a 4xx answer or a readable message. A library's or a device's exception is mapped
into one of these at the adapter edge.
"""

from __future__ import annotations

from typing import Any


class BorderflowError(Exception):
    status_code: int = 400

    def __init__(
        self,
        message: str,
        status_code: int | None = None,
        *,
        field: str | None = None,
        details: dict[str, Any] | None = None,
        vi: str | None = None,
        zh: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.message_vi = vi
        """The same reason in Vietnamese (shown to Vietnamese users and in API errors)."""
        self.message_zh = zh
        if status_code is not None:
            self.status_code = status_code
        self.field = field
        self.details = details or {}

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    def as_problem(self) -> dict[str, Any]:
        """One entry of an API error reply: field, reason in English, Vietnamese, Chinese."""
        out: dict[str, Any] = {"field": self.field, "reason": self.message}
        if self.message_vi:
            out["reason_vi"] = self.message_vi
        if self.message_zh:
            out["reason_zh"] = self.message_zh
        return out


class ValidationFailed(BorderflowError):
    """Several invalid fields at once (nothing is stored): a 422 listing each of them."""

    status_code = 422

    def __init__(self, problems: list[BorderflowError]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems) or "invalid input")


class NotFound(BorderflowError):
    status_code = 404


class Conflict(BorderflowError):
    status_code = 409


class InvalidInput(BorderflowError):
    status_code = 422


class NaiveDatetimeError(InvalidInput):
    """A datetime without a time zone reached code that needs an instant in time."""


class NetworkFileError(BorderflowError):
    """A network file is unreadable or invalid: names the file, the key path and the reason."""

    status_code = 422

    def __init__(self, path: str, problems: list[tuple[str, str]]) -> None:
        self.path = path
        self.problems = problems
        lines = [f"{path}: {key or '<file>'}: {reason}" for key, reason in problems]
        super().__init__("\n".join(lines))


class CrossingNotFound(NotFound):
    pass


class RouteNotFound(NotFound):
    pass


class Unauthorized(BorderflowError):
    status_code = 401


class Forbidden(BorderflowError):
    status_code = 403
