"""Accounts over HTTP: signing in and out, tokens and keys, organisations, cast, machine keys."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from borderflow.accounts import service
from borderflow.accounts.models import AccessToken, ApiKey, Organisation, User
from borderflow.app import API
from borderflow.audit.models import AuditEntry
from borderflow.clock import FixedClock
from borderflow.deps import TOKEN_CACHE_SECONDS
from tests.fixtures.api import PASSWORD, Cast


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    return client.post(f"{API}/auth/token", data={"username": username, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def me(client: TestClient, headers: dict[str, str]) -> Any:
    return client.get(f"{API}/users/me", headers=headers)


def problem_fields(response: Any) -> list[str]:
    return [p["field"] for p in response.json()["detail"]]


def audit_trail(session: Session) -> list[tuple[str, str, str]]:
    return [(e.action, e.entity_id, e.actor)
            for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


# --- signing in and out ------------------------------------------------------------------------


def test_sign_in_gives_a_working_bearer_token(client: TestClient, cast: Cast,
                                              clock: FixedClock) -> None:
    r = sign_in(client, "exporter_lan")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer"
    assert datetime.fromisoformat(body["expires_at"]) == clock.now() + timedelta(hours=12)
    who = me(client, bearer(body["access_token"]))
    assert who.status_code == 200
    assert who.json()["username"] == "exporter_lan"
    assert who.json()["organisation_id"] == str(cast.exporter_lan.organisation_id)
    assert who.json()["roles"] == ["enterprise_user"]


def test_sign_in_refuses_a_wrong_password_without_saying_whether_the_user_exists(
    client: TestClient, cast: Cast
) -> None:
    wrong = sign_in(client, "exporter_lan", "not the password")
    unknown = sign_in(client, "nobody_here")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.headers["WWW-Authenticate"] == unknown.headers["WWW-Authenticate"] == "Bearer"
    assert "access_token" not in wrong.text


def test_sign_in_is_case_sensitive_in_the_password(client: TestClient, cast: Cast) -> None:
    assert sign_in(client, "exporter_lan", PASSWORD.upper()).status_code == 401


def test_sign_in_without_a_password_names_the_missing_field(client: TestClient, cast: Cast
                                                            ) -> None:
    r = client.post(f"{API}/auth/token", data={"username": "exporter_lan"})
    assert r.status_code == 422
    assert problem_fields(r) == ["password"]


def test_logout_revokes_the_token(client: TestClient, cast: Cast) -> None:
    token = sign_in(client, "exporter_lan").json()["access_token"]
    assert me(client, bearer(token)).status_code == 200
    r = client.post(f"{API}/auth/logout", headers=bearer(token))
    assert r.status_code == 204
    after = me(client, bearer(token))
    assert after.status_code == 401
    assert after.headers["WWW-Authenticate"] == "Bearer"
    # the person's other sessions are untouched
    assert me(client, cast.exporter_lan.headers).status_code == 200


def test_a_token_revoked_by_another_worker_stops_working_within_the_cache_time(
    client: TestClient, cast: Cast, session: Session, clock: FixedClock,
) -> None:
    cache = client.app.state.token_cache  # type: ignore[attr-defined]
    seconds = [1000.0]
    cache.timer = lambda: seconds[0]
    token = sign_in(client, "exporter_lan").json()["access_token"]
    assert me(client, bearer(token)).status_code == 200  # now in this worker's cache
    # Another worker signs the token out: only the database knows.
    row = session.get(AccessToken, service.token_hash(token))
    assert row is not None
    row.revoked_at = clock.now()
    session.flush()
    seconds[0] += TOKEN_CACHE_SECONDS / 2
    assert me(client, bearer(token)).status_code == 200  # still remembered, within the bound
    seconds[0] += TOKEN_CACHE_SECONDS / 2 + 0.01
    assert me(client, bearer(token)).status_code == 401


def test_a_token_expires_after_12_hours(client: TestClient, cast: Cast, clock: FixedClock
                                        ) -> None:
    token = sign_in(client, "officer_hoa").json()["access_token"]
    clock.advance(timedelta(hours=11, minutes=59))
    assert me(client, bearer(token)).status_code == 200
    clock.advance(timedelta(minutes=1, seconds=1))
    r = me(client, bearer(token))
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == "Bearer"
    # signing in again gives a fresh 12 hours
    fresh = sign_in(client, "officer_hoa").json()["access_token"]
    assert me(client, bearer(fresh)).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer bft_never-issued"},
        {"Authorization": "Basic ZXhwb3J0ZXJfbGFuOnNlY3JldA=="},
        {"X-API-Key": "bfk_never-issued"},
    ],
    ids=["no credentials", "unknown token", "basic auth", "unknown key"],
)
def test_refuses_a_caller_without_valid_credentials(client: TestClient, cast: Cast,
                                                    headers: dict[str, str]) -> None:
    r = client.get(f"{API}/shipments", headers=headers)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == "Bearer"


def test_machines_have_no_user_record(client: TestClient, cast: Cast) -> None:
    assert me(client, cast.vnaccs.headers).status_code == 404


# --- machine keys ------------------------------------------------------------------------------


def test_admin_issues_an_api_key_shown_once_and_stored_hashed(
    client: TestClient, cast: Cast, session: Session
) -> None:
    r = client.post(f"{API}/api-keys", headers=cast.admin.headers, json={
        "organisation_id": str(cast.vnaccs.organisation_id), "name": "vnaccs_backup",
        "role": "agency_system"})
    assert r.status_code == 201, r.text
    raw = r.json()["key"]
    stored = session.scalars(select(ApiKey).where(ApiKey.id == uuid.UUID(r.json()["id"]))).one()
    assert raw not in (stored.key_hash, stored.name)
    assert client.get(f"{API}/shipments", headers={"X-API-Key": raw}).status_code == 200


def test_a_revoked_api_key_is_refused(client: TestClient, cast: Cast, session: Session
                                      ) -> None:
    r = client.post(f"{API}/api-keys", headers=cast.admin.headers, json={
        "organisation_id": str(cast.vnaccs.organisation_id), "name": "vnaccs_test",
        "role": "agency_system"})
    key = {"X-API-Key": r.json()["key"]}
    assert client.get(f"{API}/shipments", headers=key).status_code == 200
    revoked = client.delete(f"{API}/api-keys/{r.json()['id']}", headers=cast.admin.headers)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    refused = client.get(f"{API}/shipments", headers=key)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == "Bearer"


def test_a_revoked_camera_key_is_refused(client: TestClient, cast: Cast, session: Session
                                         ) -> None:
    key_id = session.scalars(select(ApiKey.id).where(ApiKey.name == "camera_hn_gate_1")).one()
    assert client.delete(f"{API}/api-keys/{key_id}",
                         headers=cast.admin.headers).status_code == 200
    r = client.get(f"{API}/shipments", headers=cast.camera_hn_gate_1.headers)
    assert r.status_code == 401  # no longer "forbidden": no longer anyone


def test_revoking_an_unknown_api_key_is_not_found(client: TestClient, cast: Cast) -> None:
    r = client.delete(f"{API}/api-keys/{uuid.uuid4()}", headers=cast.admin.headers)
    assert r.status_code == 404
    assert problem_fields(r) == ["key_id"]


@pytest.mark.parametrize("role", ["operator", "customs_officer", "enterprise_user"])
def test_rejects_an_api_key_for_a_person_role(client: TestClient, cast: Cast, role: str
                                              ) -> None:
    r = client.post(f"{API}/api-keys", headers=cast.admin.headers, json={
        "organisation_id": str(cast.admin.organisation_id), "name": "not a machine",
        "role": role})
    assert r.status_code == 422
    assert problem_fields(r) == ["role"]


# --- organisations -----------------------------------------------------------------------------


def create_org(client: TestClient, cast: Cast, **body: Any) -> Any:
    return client.post(f"{API}/organisations", headers=cast.admin.headers,
                       json={"name": "Tan Phat Logistics", "kind": "enterprise", "country": "VN",
                             **body})


@pytest.mark.parametrize(
    ("country", "tax_code", "stored"),
    [
        ("VN", "0100100008", "0100100008"),
        ("VN", "0100100008-001", "0100100008-001"),
        ("CN", "91350100M000100Y43", "91350100M000100Y43"),
        ("CN", "9135 0100 m000 100y 43", "91350100M000100Y43"),
    ],
)
def test_admin_creates_an_enterprise_with_a_valid_tax_code(
    client: TestClient, cast: Cast, session: Session, country: str, tax_code: str, stored: str
) -> None:
    r = create_org(client, cast, country=country, tax_code=tax_code)
    assert r.status_code == 201, r.text
    assert r.json()["tax_code"] == stored
    org = session.get(Organisation, uuid.UUID(r.json()["id"]))
    assert org is not None and org.tax_code == stored


@pytest.mark.parametrize(
    ("country", "tax_code"),
    [
        ("VN", "0100100009"),  # wrong check digit
        ("VN", "01001000"),  # too short
        ("VN", "0100100008-000"),  # branch 000
        ("CN", "91350100M000100Y44"),  # wrong check character
        ("CN", "0100100008"),  # a Vietnamese MST for a Chinese company
    ],
)
def test_rejects_an_invalid_tax_code_naming_it_in_three_languages(
    client: TestClient, cast: Cast, session: Session, country: str, tax_code: str
) -> None:
    orgs = len(session.scalars(select(Organisation.id)).all())
    r = create_org(client, cast, country=country, tax_code=tax_code)
    assert r.status_code == 422
    (problem,) = r.json()["detail"]
    assert problem["field"] == "tax_code"
    assert problem["reason"] and problem["reason_vi"] and problem["reason_zh"]
    assert len(session.scalars(select(Organisation.id)).all()) == orgs


def test_rejects_an_enterprise_without_tax_code(client: TestClient, cast: Cast) -> None:
    r = create_org(client, cast)
    assert r.status_code == 422
    assert problem_fields(r) == ["tax_code"]


def test_an_agency_needs_no_tax_code(client: TestClient, cast: Cast) -> None:
    r = create_org(client, cast, name="Dong Dang Plant Quarantine", kind="agency")
    assert r.status_code == 201, r.text
    assert r.json()["tax_code"] is None


def test_rejects_a_duplicate_tax_code(client: TestClient, cast: Cast) -> None:
    r = create_org(client, cast, tax_code="0100 233 488")  # exporter_lan's, spaced
    assert r.status_code == 409
    assert problem_fields(r) == ["tax_code"]


def test_rejects_an_unknown_organisation_kind(client: TestClient, cast: Cast) -> None:
    r = create_org(client, cast, kind="cooperative", tax_code="0100100008")
    assert r.status_code == 422
    assert problem_fields(r) == ["kind"]


# --- cast ------------------------------------------------------------------------------------


def create_user(client: TestClient, cast: Cast, organisation_id: uuid.UUID, roles: list[str],
                **body: Any) -> Any:
    return client.post(f"{API}/users", headers=cast.admin.headers, json={
        "organisation_id": str(organisation_id), "username": "clerk_mai",
        "full_name": "Tran Thi Mai", "password": PASSWORD, "roles": roles, **body})


def test_created_person_can_sign_in_and_their_password_is_an_argon2_hash(
    client: TestClient, cast: Cast, session: Session
) -> None:
    r = create_user(client, cast, cast.exporter_lan.organisation_id, ["enterprise_user"])
    assert r.status_code == 201, r.text
    assert "password" not in r.text and "argon2" not in r.text
    stored = session.scalars(select(User.password_hash).where(User.username == "clerk_mai")).one()
    assert stored.startswith("$argon2")
    assert PASSWORD not in stored
    token = sign_in(client, "clerk_mai").json()["access_token"]
    assert me(client, bearer(token)).json()["username"] == "clerk_mai"


@pytest.mark.parametrize("roles", [["enterprise_user"], ["driver"], ["enterprise_user", "driver"]])
def test_enterprise_people_may_be_enterprise_users_or_drivers(
    client: TestClient, cast: Cast, roles: list[str]
) -> None:
    r = create_user(client, cast, cast.broker_minh.organisation_id, roles,
                    id_number="001088054321")
    assert r.status_code == 201, r.text
    assert r.json()["roles"] == sorted(roles)


@pytest.mark.parametrize("role", ["customs_officer", "operator", "admin", "border_guard_officer"])
def test_rejects_an_enterprise_person_with_another_role(client: TestClient, cast: Cast,
                                                        role: str) -> None:
    r = create_user(client, cast, cast.exporter_lan.organisation_id, [role])
    assert r.status_code == 422
    assert problem_fields(r) == ["roles"]
    assert sign_in(client, "clerk_mai").status_code == 401  # nobody was created


@pytest.mark.parametrize("role", ["camera", "peer_platform", "agency_system"])
def test_rejects_a_machine_role_for_a_person(client: TestClient, cast: Cast, role: str
                                             ) -> None:
    r = create_user(client, cast, cast.admin.organisation_id, [role])
    assert r.status_code == 422
    assert problem_fields(r) == ["roles"]


@pytest.mark.parametrize("member_of", ["officer_hoa", "admin"])
def test_rejects_the_enterprise_user_role_outside_an_enterprise(client: TestClient,
                                                               cast: Cast, member_of: str
                                                               ) -> None:
    org_id = getattr(cast, member_of).organisation_id
    r = create_user(client, cast, org_id, ["enterprise_user", "customs_officer"])
    assert r.status_code == 422
    assert problem_fields(r) == ["roles"]


def test_officer_is_assigned_to_known_crossings(client: TestClient, cast: Cast) -> None:
    r = create_user(client, cast, cast.officer_hoa.organisation_id, ["customs_officer"],
                    crossings=["tan-thanh"])
    assert r.status_code == 201, r.text
    assert r.json()["crossings"] == ["tan-thanh"]


def test_rejects_an_unknown_crossing_in_an_officers_assignment(client: TestClient, cast: Cast
                                                               ) -> None:
    r = create_user(client, cast, cast.officer_hoa.organisation_id, ["customs_officer"],
                    crossings=["huu-nghi", "no-such-gate"])
    assert r.status_code == 422
    assert problem_fields(r) == ["crossings"]
    assert "no-such-gate" in r.json()["detail"][0]["reason"]


def test_rejects_a_taken_username(client: TestClient, cast: Cast) -> None:
    r = create_user(client, cast, cast.exporter_lan.organisation_id, ["driver"],
                    username="driver_tuan")
    assert r.status_code == 409
    assert problem_fields(r) == ["username"]


def test_rejects_a_short_password(client: TestClient, cast: Cast) -> None:
    r = create_user(client, cast, cast.exporter_lan.organisation_id, ["driver"],
                    password="short")
    assert r.status_code == 422
    assert problem_fields(r) == ["password"]


def test_rejects_a_person_in_an_unknown_organisation(client: TestClient, cast: Cast) -> None:
    r = create_user(client, cast, uuid.uuid4(), ["operator"])
    assert r.status_code == 404
    assert problem_fields(r) == ["organisation_id"]


# --- the audit trail ---------------------------------------------------------------------------


def test_every_create_over_the_api_is_audited_with_the_admin_as_actor(
    client: TestClient, cast: Cast, session: Session
) -> None:
    before = len(audit_trail(session))
    org = create_org(client, cast, tax_code="0100100008").json()
    user = create_user(client, cast, uuid.UUID(org["id"]), ["enterprise_user"]).json()
    key = client.post(f"{API}/api-keys", headers=cast.admin.headers, json={
        "organisation_id": org["id"], "name": "tan_phat_erp", "role": "agency_system"}).json()
    client.delete(f"{API}/api-keys/{key['id']}", headers=cast.admin.headers)
    assert audit_trail(session)[before:] == [
        ("organisation.create", org["id"], "user:admin_an"),
        ("user.create", user["id"], "user:admin_an"),
        ("api_key.create", key["id"], "user:admin_an"),
        ("api_key.revoke", key["id"], "user:admin_an"),
    ]


def test_a_refused_create_is_not_audited(client: TestClient, cast: Cast, session: Session
                                         ) -> None:
    before = audit_trail(session)
    assert create_org(client, cast, tax_code="0100100009").status_code == 422
    assert create_user(client, cast, cast.exporter_lan.organisation_id,
                       ["admin"]).status_code == 422
    assert client.post(f"{API}/organisations", headers=cast.operator_an.headers, json={
        "name": "X", "kind": "agency", "country": "VN"}).status_code == 403
    assert audit_trail(session) == before
