"""`borderflow users …`: bootstrap the first admin, add people and machine keys."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer
from rich.table import Table

from borderflow.accounts import repository, service
from borderflow.accounts.roles import OrganisationKind, Role
from borderflow.accounts.schemas import ApiKeyCreate, OrganisationCreate, UserCreate
from borderflow.cli.context import clock, console, db_session, fail, network_from
from borderflow.errors import BorderflowError

users_app = typer.Typer(help="People, organisations and machine keys.", no_args_is_help=True)
ACTOR = "cli"


@users_app.command("create")
def create(
    username: Annotated[str, typer.Option(help="Sign-in name.")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True,
                                          help="At least 10 characters.")],
    role: Annotated[list[Role], typer.Option(help="Role (repeat for several).")],
    full_name: Annotated[str | None, typer.Option(help="Full name.")] = None,
    organisation: Annotated[str | None, typer.Option(
        help="Organisation id; default: the platform operator's organisation "
        "(created if missing).")] = None,
    crossing: Annotated[list[str] | None, typer.Option(
        help="Crossing an officer is assigned to (repeat).")] = None,
) -> None:
    """Create a user; `--role admin` with no organisation bootstraps the first admin."""
    try:
        with db_session() as session:
            if organisation:
                org_id = uuid.UUID(organisation)
            else:
                orgs = [o for o in repository.list_organisations(session)
                        if o.kind == OrganisationKind.platform.value]
                org = orgs[0] if orgs else service.create_organisation(
                    session, org_in=OrganisationCreate(
                        name="borderflow platform operator", kind=OrganisationKind.platform,
                        country="VN"), actor=ACTOR, clock=clock())
                org_id = org.id
            user = service.create_user(
                session, user_in=UserCreate(
                    organisation_id=org_id, username=username,
                    full_name=full_name or username, password=password, roles=role,
                    crossings=crossing or []),
                actor=ACTOR, clock=clock(), network=network_from(None))
            console.print(f"[green]created[/] user {user.username} ({', '.join(user.roles)}) "
                          f"in organisation {org_id}")
    except (BorderflowError, ValueError) as exc:
        raise fail(str(exc)) from exc


@users_app.command("org")
def create_org(
    name: Annotated[str, typer.Option(help="Organisation name.")],
    kind: Annotated[OrganisationKind, typer.Option(help="enterprise, agency or platform.")],
    country: Annotated[str, typer.Option(help="VN or CN.")] = "VN",
    tax_code: Annotated[str | None, typer.Option(help="MST or unified social credit code.")] = None,
) -> None:
    """Create an organisation (enterprise, agency)."""
    try:
        with db_session() as session:
            org = service.create_organisation(
                session, org_in=OrganisationCreate(name=name, kind=kind, country=country,
                                                   tax_code=tax_code),
                actor=ACTOR, clock=clock())
            console.print(f"[green]created[/] organisation {org.id} {org.name}")
    except (BorderflowError, ValueError) as exc:
        raise fail(str(exc)) from exc


@users_app.command("api-key")
def api_key(
    organisation: Annotated[str, typer.Option(help="Organisation id.")],
    name: Annotated[str, typer.Option(help="Which machine, e.g. camera_hn_gate_1.")],
    role: Annotated[Role, typer.Option(help="camera, peer_platform or agency_system.")],
) -> None:
    """Issue a machine client's API key (shown once)."""
    try:
        with db_session() as session:
            raw, key = service.create_api_key(
                session, key_in=ApiKeyCreate(organisation_id=uuid.UUID(organisation), name=name,
                                             role=role), actor=ACTOR, clock=clock())
            console.print(f"[green]key[/] {key.id}: {raw}")
    except (BorderflowError, ValueError) as exc:
        raise fail(str(exc)) from exc


@users_app.command("list")
def list_orgs() -> None:
    """Organisations."""
    with db_session() as session:
        table = Table()
        for col in ("id", "name", "kind", "country", "tax code"):
            table.add_column(col)
        for o in repository.list_organisations(session):
            table.add_row(str(o.id), o.name, o.kind, o.country, o.tax_code or "")
    console.print(table)
