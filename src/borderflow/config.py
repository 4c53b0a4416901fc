"""Settings: one pydantic-settings class, prefix BORDERFLOW_."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

import typer
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

APP_NAME = "borderflow"
DEFAULT_NETWORK = "lang-son"


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


def default_data_dir() -> Path:
    # click's per-user application directory (e.g. ~/.config/borderflow on Linux).
    return Path(typer.get_app_dir(APP_NAME))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BORDERFLOW_", extra="ignore")

    env: Environment = Environment.development
    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None
    network: str = DEFAULT_NETWORK
    """A shipped network's name (e.g. `lang-son`) or the path of a network TOML file."""
    requests_per_worker: int | None = Field(default=None, ge=1, le=200)
    """Requests handled at once by each server worker, and its database connections (the rest
    wait their turn, first come first served). Default: 6 on PostgreSQL, 15 on SQLite."""

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not (value.startswith("sqlite") or value.startswith("postgresql")):
            raise ValueError("BORDERFLOW_DATABASE_URL must start with sqlite or postgresql+psycopg")
        return value

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.data_dir / 'borderflow.sqlite3'}"


class SettingsError(ValueError):
    """A BORDERFLOW_ variable has a bad value: names the variable and the reason."""


@lru_cache
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = "BORDERFLOW_" + "_".join(str(p) for p in err["loc"]).upper()
            lines.append(f"{name}: {err['msg'].removeprefix('Value error, ')}")
        raise SettingsError("; ".join(lines)) from None
