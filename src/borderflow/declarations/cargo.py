"""Regimes, cargo classes and their shelf life in transit."""

from __future__ import annotations

from enum import StrEnum

from borderflow.network.schemas import Direction


class Regime(StrEnum):
    export = "export"
    import_ = "import"
    temporary_import_reexport = "temporary_import_reexport"
    temporary_export_reimport = "temporary_export_reimport"
    transshipment = "transshipment"
    transit = "transit"


REGIME_DIRECTION: dict[Regime, Direction | None] = {
    Regime.export: Direction.export,
    Regime.temporary_export_reimport: Direction.export,
    Regime.import_: Direction.import_,
    Regime.temporary_import_reexport: Direction.import_,
    Regime.transshipment: None,  # goods handed over in a yard: either way, the declarant says
    Regime.transit: None,
}


class CargoClass(StrEnum):
    fresh_fruit = "fresh_fruit"
    chilled = "chilled"
    frozen = "frozen"
    live_animals = "live_animals"
    general = "general"
    hazardous = "hazardous"
    new_vehicles = "new_vehicles"


# Shelf life in transit, hours (brief §5, approx.; a goods line may give its own). None = not
# perishable. Lychee keeps 2–3 days ambient, durian 7–10 days, dragon fruit and watermelon 2–3
# weeks chilled: fresh fruit defaults to the short end (lychee/longan) and declarants of durian or
# chilled fruit give their own figure.
DEFAULT_SHELF_LIFE_HOURS: dict[CargoClass, int | None] = {
    CargoClass.fresh_fruit: 72,
    CargoClass.chilled: 14 * 24,
    CargoClass.frozen: 60 * 24,
    CargoClass.live_animals: 48,
    CargoClass.general: None,
    CargoClass.hazardous: None,
    CargoClass.new_vehicles: None,
}

# Most perishable first: a shipment takes the class of its most perishable line.
PERISHABILITY_ORDER = [
    CargoClass.live_animals, CargoClass.fresh_fruit, CargoClass.chilled, CargoClass.frozen,
    CargoClass.hazardous, CargoClass.general, CargoClass.new_vehicles,
]


def is_perishable(cargo_class: CargoClass) -> bool:
    return DEFAULT_SHELF_LIFE_HOURS[cargo_class] is not None
