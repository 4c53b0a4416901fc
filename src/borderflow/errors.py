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


# Vietnamese and Chinese for pydantic's most common reasons (the English is pydantic's own).
_REASONS: dict[str, tuple[str, str]] = {
    "missing": ("trường bắt buộc", "必填字段"),
    "extra_forbidden": ("trường không được phép", "不允许的字段"),
    "string_too_short": ("chuỗi quá ngắn", "字符串太短"),
    "string_too_long": ("chuỗi quá dài", "字符串太长"),
    "string_pattern_mismatch": ("định dạng không hợp lệ", "格式无效"),
    "greater_than": ("giá trị phải lớn hơn giới hạn", "数值必须大于下限"),
    "less_than_equal": ("giá trị vượt quá giới hạn", "数值超过上限"),
    "timezone_aware": ("thời gian phải có múi giờ", "时间必须带时区"),
    "enum": ("giá trị không nằm trong danh sách cho phép", "取值不在允许范围内"),
    "uuid_parsing": ("mã định danh không hợp lệ", "标识符无效"),
    "datetime_from_date_parsing": ("thời gian không hợp lệ", "时间无效"),
    "datetime_parsing": ("thời gian không hợp lệ", "时间无效"),
    "decimal_parsing": ("số không hợp lệ", "数字无效"),
    "int_parsing": ("số nguyên không hợp lệ", "整数无效"),
    "list_type": ("phải là danh sách", "必须是列表"),
    "too_short": ("danh sách quá ngắn", "列表太短"),
    "too_long": ("danh sách quá dài", "列表太长"),
}


def _field(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for p in loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc:
        if isinstance(p, int):
            parts[-1:] = [f"{parts[-1] if parts else ''}[{p}]"]
        else:
            parts.append(str(p))
    return ".".join(parts) or str(loc[0] if loc else "body")


def pydantic_problem(err: dict[str, Any]) -> dict[str, Any]:
    """One API problem from one pydantic error: the field path and the reason in en/vi/zh."""
    vi, zh = _REASONS.get(err["type"], ("dữ liệu không hợp lệ", "数据无效"))
    loc = tuple(err.get("loc", ()))
    field = str(loc[-1]) if loc and loc[0] == "header" else _field(loc)
    return {"field": field, "reason": err["msg"], "reason_vi": vi, "reason_zh": zh}
