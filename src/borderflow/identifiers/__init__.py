"""Identifiers as value objects, parsed once at the edge.

Each parser takes the raw value and `field`, the API field path named in errors
("vehicle.plate"), and returns a normalised str or frozen dataclass, or raises
`borderflow.errors.InvalidInput` naming the field and the reason in English, Vietnamese and
Chinese.
"""

from __future__ import annotations

from borderflow.identifiers.codes import (
    HSCode,
    parse_cn_uscc,
    parse_container_number,
    parse_country,
    parse_currency,
    parse_hs_code,
    parse_phone,
    parse_tax_code,
    parse_vn_tax_code,
)
from borderflow.identifiers.plates import (
    CN_PLATE_PROVINCES,
    VN_PLATE_PROVINCES,
    Plate,
    parse_plate,
)
from borderflow.identifiers.units import REC20_UNITS, parse_unit

__all__ = [
    "CN_PLATE_PROVINCES",
    "REC20_UNITS",
    "VN_PLATE_PROVINCES",
    "HSCode",
    "Plate",
    "parse_cn_uscc",
    "parse_container_number",
    "parse_country",
    "parse_currency",
    "parse_hs_code",
    "parse_phone",
    "parse_plate",
    "parse_tax_code",
    "parse_unit",
    "parse_vn_tax_code",
]
