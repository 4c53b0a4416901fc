"""schemathesis against the app's own OpenAPI schema: no 5xx, no response breaking the schema.

Runs in-process (ASGI) on both backends, signed in as the persona each operation is meant for.
(schemathesis' pytest plugin `from_fixture` does not work with pytest 9, so the operations are
driven with hypothesis directly; the checks are schemathesis' own.)
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.fixtures.api import Cast

API = "/api/v1"
ADMIN_PATHS = ("/organisations", "/users", "/api-keys")
SKIP = {"/auth/logout"}  # would revoke the persona's token in the middle of the run


def _headers(cast: Cast, path: str) -> dict[str, str]:
    if path.startswith("/agency-results"):
        return cast.vnaccs.headers
    if path.startswith(ADMIN_PATHS) and path != "/users/me":
        return cast.admin.headers
    return cast.exporter_lan.headers


def _runner(headers, strategy):
    @given(case=strategy)
    @settings(max_examples=25, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):
        # Domain rules reject much schema-valid data (a plate's province, an HS heading): that
        # is a 422 by design, so "positive data accepted" is not required; every other check
        # (no 5xx, documented status codes, response bodies and headers match the schema) is.
        case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

    return run


def test_api_conforms_to_its_schema_and_never_answers_5xx(app, cast):
    schema = schemathesis.openapi.from_asgi(f"{API}/openapi.json", app)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        path = operation.path.removeprefix(API)
        if path in SKIP:
            continue
        operations += 1
        run = _runner(_headers(cast, path), operation.as_strategy())

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # collect every operation's failure
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert operations >= 15
    assert not failures, "\n\n".join(failures)
