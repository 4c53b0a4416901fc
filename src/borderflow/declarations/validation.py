"""Checks a declaration field by field and reports every problem at once.

Identifiers are parsed into their normalised forms here (at the edge); nothing is stored when
any part is invalid. Each problem names its field (`goods[0].hs_code`) and the reason in
English, Vietnamese and Chinese.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from borderflow.declarations.cargo import (
    DEFAULT_SHELF_LIFE_HOURS,
    PERISHABILITY_ORDER,
    REGIME_DIRECTION,
    CargoClass,
    Regime,
)
from borderflow.declarations.schemas import DriverIn, GoodsLineIn, VehicleIn
from borderflow.errors import BorderflowError, InvalidInput, ValidationFailed
from borderflow.identifiers import (
    parse_container_number,
    parse_country,
    parse_currency,
    parse_hs_code,
    parse_phone,
    parse_plate,
    parse_unit,
)
from borderflow.network.schemas import CrossingState, Direction, Network

T = TypeVar("T")
CLOCK_SKEW = timedelta(minutes=15)
MAX_HORIZON = timedelta(days=60)


@dataclass
class Problems:
    items: list[BorderflowError] = field(default_factory=list)

    def check(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        try:
            return fn(*args, **kwargs)
        except InvalidInput as exc:
            self.items.append(exc)
            return None

    def add(self, field_: str, en: str, vi: str, zh: str) -> None:
        self.items.append(InvalidInput(en, field=field_, vi=vi, zh=zh))

    def raise_if_any(self) -> None:
        if self.items:
            raise ValidationFailed(self.items)


def vehicle_data(vehicle: VehicleIn, problems: Problems, prefix: str = "vehicle") -> dict[str, Any]:
    plate = problems.check(parse_plate, vehicle.plate, f"{prefix}.plate")
    trailer = (
        problems.check(parse_plate, vehicle.trailer_plate, f"{prefix}.trailer_plate")
        if vehicle.trailer_plate else None
    )
    if trailer is not None and not trailer.is_trailer:
        problems.add(f"{prefix}.trailer_plate",
                     "this is not a trailer plate (VN R series or CN 挂)",
                     "đây không phải biển số rơ-moóc (sơ-mi rơ-moóc)", "这不是挂车号牌")
    if plate is not None and plate.is_trailer:
        problems.add(f"{prefix}.plate", "the tractor's plate is a trailer plate",
                     "biển số đầu kéo là biển rơ-moóc", "牵引车号牌是挂车号牌")
    containers = [
        problems.check(parse_container_number, c, f"{prefix}.containers[{i}]")
        for i, c in enumerate(vehicle.containers)
    ]
    return {
        "plate": plate.text if plate else vehicle.plate,
        "plate_country": plate.country if plate else None,
        "trailer_plate": trailer.text if trailer else None,
        "gms_permit": vehicle.gms_permit,
        "containers": [c for c in containers if c],
    }


def driver_data(driver: DriverIn, problems: Problems, prefix: str = "driver") -> dict[str, Any]:
    nationality = problems.check(parse_country, driver.nationality, f"{prefix}.nationality")
    region = nationality if nationality in ("VN", "CN") else "VN"
    phone = problems.check(parse_phone, driver.phone, f"{prefix}.phone", default_region=region)
    return {
        "name": driver.name,
        "id_number": driver.id_number.upper(),
        "phone": phone or driver.phone,
        "nationality": nationality or driver.nationality,
    }


def goods_data(
    goods: list[GoodsLineIn], problems: Problems, *, hs_country: str
) -> tuple[list[dict[str, Any]], bool]:
    """Normalised lines, and whether any of them is a plant product (HS chapters 06–14)."""
    lines = []
    plant = False
    for i, line in enumerate(goods):
        p = f"goods[{i}]"
        hs = problems.check(parse_hs_code, line.hs_code, hs_country, f"{p}.hs_code")
        if hs is not None and hs.needs_phytosanitary:
            plant = True
        lines.append({
            "line_no": i + 1,
            "hs_code": hs.code if hs else line.hs_code,
            "description": line.description,
            "quantity": line.quantity.quantize(Decimal("0.001")),
            "unit": problems.check(parse_unit, line.unit, f"{p}.unit") or line.unit,
            "gross_weight_kg": line.gross_weight_kg.quantize(Decimal("0.001")),
            "value": line.value.quantize(Decimal("0.01")),
            "currency": problems.check(parse_currency, line.currency, f"{p}.currency")
            or line.currency,
            "cargo_class": line.cargo_class.value,
            "shelf_life_hours": line.shelf_life_hours,
        })
    return lines, plant


def shelf_life(lines: list[dict[str, Any]]) -> tuple[CargoClass, int | None]:
    """The shipment's cargo class (its most perishable line's) and shortest shelf life."""
    classes = [CargoClass(ln["cargo_class"]) for ln in lines]
    cargo = min(classes, key=PERISHABILITY_ORDER.index)
    lives = [
        ln["shelf_life_hours"] or DEFAULT_SHELF_LIFE_HOURS[CargoClass(ln["cargo_class"])]
        for ln in lines
    ]
    known = [x for x in lives if x is not None]
    return cargo, (min(known) if known else None)


def check_crossings(network: Network, crossings: list[str], problems: Problems) -> list[str]:
    out: list[str] = []
    known = {c.id: c for c in network.crossings}
    for i, cid in enumerate(crossings):
        c = known.get(cid)
        if c is None:
            problems.add(f"crossings[{i}]", f"unknown crossing {cid!r}",
                         f"cửa khẩu {cid!r} không tồn tại", f"口岸 {cid!r} 不存在")
        elif c.status.state is not CrossingState.open:
            problems.add(f"crossings[{i}]",
                         f"crossing {cid} is {c.status.state.value}: {c.status.reason or ''}",
                         f"cửa khẩu {cid} đang tạm dừng thông quan",
                         f"口岸 {cid} 暂停通关")
        elif cid not in out:
            out.append(cid)
    return out


def check_window(
    arrival_from: datetime, arrival_to: datetime, now: datetime, problems: Problems
) -> None:
    if arrival_from < now - CLOCK_SKEW:
        problems.add("arrival_from", "arrival window starts in the past",
                     "khung giờ đến đã ở trong quá khứ", "到达时间窗口的开始时间已过")
    if arrival_to <= arrival_from:
        problems.add("arrival_to", "arrival window ends before it starts",
                     "khung giờ đến kết thúc trước khi bắt đầu", "到达时间窗口的结束早于开始")
    if arrival_from > now + MAX_HORIZON:
        problems.add("arrival_from", "arrival is more than 60 days ahead",
                     "thời gian đến quá 60 ngày", "到达时间超过60天")


def direction_for(regime: Regime, direction: Direction | None, problems: Problems) -> Direction:
    implied = REGIME_DIRECTION[regime]
    if implied is None:
        if direction is None:
            problems.add("direction", f"{regime.value} needs a direction (export or import)",
                         "cần chọn chiều xuất hoặc nhập", "需要选择出口或进口方向")
            return Direction.export
        return direction
    if direction is not None and direction is not implied:
        problems.add("direction", f"{regime.value} goes {implied.value}, not {direction.value}",
                     f"loại hình {regime.value} là chiều {implied.value}",
                     f"{regime.value} 的方向是 {implied.value}")
    return implied


def check_phyto(plant: bool, certificate: str | None, problems: Problems) -> None:
    if plant and not certificate:
        problems.add(
            "phytosanitary_certificate",
            "plant products (HS chapters 06–14) need a phytosanitary certificate number",
            "hàng thực vật (chương HS 06–14) phải có số giấy chứng nhận kiểm dịch thực vật",
            "植物产品（HS第06–14章）需要植物检疫证书编号",
        )
