"""Shared helpers of the identifier parsers: one way to reject a value, in three languages."""

from __future__ import annotations

import unicodedata

from borderflow.errors import InvalidInput


def reject(field: str, en: str, vi: str, zh: str) -> InvalidInput:
    """The error for an invalid value of `field`: the reason in English, Vietnamese and Chinese."""
    return InvalidInput(en, field=field, vi=vi, zh=zh)


def text(value: object, field: str, what_en: str, what_vi: str, what_zh: str) -> str:
    """`value` as stripped NFKC text (full-width forms folded to ASCII), or a rejection.

    `what_*` name the thing in each language ("plate number", "biển số", "车牌号").
    """
    if not isinstance(value, str):
        raise reject(
            field,
            f"{what_en} must be text, got {type(value).__name__}",
            f"{what_vi} phải là chuỗi ký tự, nhận được {type(value).__name__}",
            f"{what_zh}必须是文本，实际为{type(value).__name__}",
        )
    out = unicodedata.normalize("NFKC", value).strip()
    if not out:
        raise reject(field, f"{what_en} is empty", f"{what_vi} đang trống", f"{what_zh}为空")
    return out
