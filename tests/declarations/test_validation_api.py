"""Bad declarations get a 422 naming each field and the reason in English, Vietnamese and
Chinese, and nothing is stored."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from borderflow.audit.models import AuditEntry
from borderflow.declarations.models import GoodsLine, Shipment
from tests.fixtures.api import durian_shipment

API = "/api/v1"


def _counts(session) -> tuple[int, int, int]:
    return tuple(  # type: ignore[return-value]
        session.scalar(select(func.count()).select_from(t)) or 0
        for t in (Shipment, GoodsLine, AuditEntry)
    )


LINE = durian_shipment()["goods"][0]  # type: ignore[index]


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"vehicle": {"plate": "00C-123.45"}}, {"vehicle.plate"}),
        ({"vehicle": {"plate": "桂I12345"}}, {"vehicle.plate"}),
        ({"vehicle": {"plate": "12C-123.45", "trailer_plate": "12C-555.55"}},
         {"vehicle.trailer_plate"}),
        ({"vehicle": {"plate": "12C-123.45", "containers": ["CSQU3054384"]}},
         {"vehicle.containers[0]"}),
        ({"goods": [{**LINE, "hs_code": "081099"}]}, {"goods[0].hs_code"}),
        ({"goods": [{**LINE, "hs_code": "0810600"}]}, {"goods[0].hs_code"}),
        ({"goods": [{**LINE, "unit": "XYZ"}]}, {"goods[0].unit"}),
        ({"goods": [{**LINE, "currency": "DNG"}]}, {"goods[0].currency"}),
        ({"goods": [{**LINE, "gross_weight_kg": "-5"}]}, {"goods[0].gross_weight_kg"}),
        ({"goods": [{**LINE, "value": "0"}]}, {"goods[0].value"}),
        ({"driver": {"name": "A", "id_number": "001099012345", "phone": "12345",
                     "nationality": "VN"}}, {"driver.phone"}),
        ({"driver": {"name": "A", "id_number": "001099012345", "phone": "0912345678",
                     "nationality": "XX"}}, {"driver.nationality"}),
        ({"arrival_from": "2026-11-25T06:00:00"}, {"arrival_from"}),
        ({"arrival_from": "2026-11-20T06:00:00+07:00"}, {"arrival_from"}),
        ({"arrival_to": "2026-11-25T05:00:00+07:00"}, {"arrival_to"}),
        ({"crossings": ["atlantis"]}, {"crossings[0]"}),
        ({"crossings": ["na-nua"]}, {"crossings[0]"}),
        ({"phytosanitary_certificate": None}, {"phytosanitary_certificate"}),
        ({"regime": "transit"}, {"direction"}),
        ({"regime": "import", "direction": "export"}, {"direction"}),
        ({"goods": []}, {"goods"}),
        ({"regime": "smuggling"}, {"regime"}),
        ({"unexpected": 1}, {"unexpected"}),
        # several problems at once: every one is named
        ({"vehicle": {"plate": "00C-123.45"}, "phytosanitary_certificate": None,
          "crossings": ["atlantis"]}, {"vehicle.plate", "phytosanitary_certificate",
                                       "crossings[0]"}),
    ],
)
def test_rejects_invalid_declaration_naming_fields_and_stores_nothing(
    client, cast, session, overrides, fields
):
    before = _counts(session)
    r = client.post(f"{API}/shipments", json=durian_shipment(**overrides),
                    headers=cast.exporter_lan.headers)
    assert r.status_code == 422, r.json()
    problems = r.json()["detail"]
    assert {p["field"] for p in problems} == fields
    for p in problems:
        assert p["reason"] and p["reason_vi"] and p["reason_zh"]
    assert _counts(session) == before


def test_goods_without_plant_products_need_no_phytosanitary_certificate(client, cast):
    line = {**LINE, "hs_code": "84713020", "description": "Laptops", "cargo_class": "general"}
    line.pop("shelf_life_hours")
    r = client.post(f"{API}/shipments", headers=cast.exporter_lan.headers,
                    json=durian_shipment(regime="import", goods=[line],
                                         phytosanitary_certificate=None))
    assert r.status_code == 201, r.json()
    assert r.json()["direction"] == "import"
    assert r.json()["shelf_life_hours"] is None


def test_shipment_takes_its_most_perishable_line(client, cast):
    laptops = {**LINE, "hs_code": "847130", "cargo_class": "general"}
    laptops.pop("shelf_life_hours")
    lychee = {**LINE, "hs_code": "081090", "cargo_class": "fresh_fruit"}
    lychee.pop("shelf_life_hours")
    r = client.post(f"{API}/shipments", headers=cast.exporter_lan.headers,
                    json=durian_shipment(goods=[laptops, lychee]))
    assert r.status_code == 201, r.json()
    assert r.json()["cargo_class"] == "fresh_fruit"
    assert r.json()["shelf_life_hours"] == 72  # lychee's default (brief §5: 2–3 days)


def test_chinese_enterprise_declares_with_a_chinese_plate_and_10_digit_hs_code(
    client, cast, session, clock
):
    from borderflow.accounts import service as accounts
    from borderflow.accounts.roles import OrganisationKind, Role
    from borderflow.accounts.schemas import OrganisationCreate, UserCreate
    from tests.fixtures.api import PASSWORD

    org = accounts.create_organisation(session, org_in=OrganisationCreate(
        name="Pingxiang Trading", kind=OrganisationKind.enterprise, country="CN",
        tax_code="91110000600037341L"), actor="test", clock=clock)
    accounts.create_user(session, user_in=UserCreate(
        organisation_id=org.id, username="trader_wei", full_name="Wei", password=PASSWORD,
        roles=[Role.enterprise_user]), actor="test", clock=clock)
    raw, _ = accounts.login(session, username="trader_wei", password=PASSWORD, clock=clock)
    body = durian_shipment(
        regime="import", vehicle={"plate": "桂F·12345", "trailer_plate": "桂F1234挂"},
        driver={"name": "Li Wei", "id_number": "G12345678", "phone": "+86 138 0013 8000",
                "nationality": "CHN"},
        goods=[{**LINE, "hs_code": "8471.30.0000", "description": "Laptops",
                "cargo_class": "general"}], phytosanitary_certificate=None)
    r = client.post(f"{API}/shipments", json=body, headers={"Authorization": f"Bearer {raw}"})
    assert r.status_code == 201, r.json()
    assert r.json()["vehicle"]["plate"] == "桂F12345"
    assert r.json()["vehicle"]["trailer_plate"] == "桂F1234挂"
    assert r.json()["goods"][0]["hs_code"] == "8471300000"
    assert r.json()["driver"]["nationality"] == "CN"
    assert r.json()["driver"]["phone"] == "+8613800138000"
