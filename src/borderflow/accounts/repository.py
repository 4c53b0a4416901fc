"""SQL for accounts."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from borderflow.accounts.models import AccessToken, ApiKey, Organisation, User
from borderflow.db import UTCDateTime


def get_organisation(session: Session, org_id: uuid.UUID) -> Organisation | None:
    return session.get(Organisation, org_id)


def organisation_by_tax_code(session: Session, tax_code: str) -> Organisation | None:
    return session.scalar(select(Organisation).where(Organisation.tax_code == tax_code))


def list_organisations(session: Session) -> list[Organisation]:
    return list(session.scalars(select(Organisation).order_by(Organisation.created_at)))


def user_by_username(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def get_user(session: Session, user_id: uuid.UUID) -> User | None:
    return session.get(User, user_id)


_TOKEN_USER = (  # built once: only the bound values change between requests
    select(User, Organisation.country, AccessToken.expires_at)
    .join(AccessToken, AccessToken.user_id == User.id)
    .join(Organisation, Organisation.id == User.organisation_id)
    .where(
        AccessToken.token_hash == bindparam("token_hash"),
        AccessToken.revoked_at.is_(None),
        AccessToken.expires_at > bindparam("now", type_=UTCDateTime()),
        User.active.is_(True),
    )
)


def token_user(session: Session, token_hash: str, now: datetime
               ) -> tuple[User, str, datetime] | None:
    """The active user holding an unexpired, unrevoked token, its organisation's country and
    the token's expiry."""
    row = session.execute(_TOKEN_USER, {"token_hash": token_hash, "now": now}).first()
    return (row[0], row[1], row[2]) if row else None


def get_token(session: Session, token_hash: str) -> AccessToken | None:
    return session.get(AccessToken, token_hash)


def api_key_by_hash(session: Session, key_hash: str) -> tuple[ApiKey, str] | None:
    row = session.execute(
        select(ApiKey, Organisation.country)
        .join(Organisation, Organisation.id == ApiKey.organisation_id)
        .where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
    ).first()
    return (row[0], row[1]) if row else None


def get_api_key(session: Session, key_id: uuid.UUID) -> ApiKey | None:
    return session.get(ApiKey, key_id)
