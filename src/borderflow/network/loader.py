"""Read a network TOML file into a validated `Network`.

A broken file fails with a `NetworkFileError` naming the file, the key path
(e.g. `crossings[huu-nghi].routes[0].directions.export.lanes`) and the reason.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from borderflow.errors import NetworkFileError
from borderflow.network.schemas import Network


def shipped_networks() -> list[str]:
    data = resources.files("borderflow.network") / "data"
    return sorted(p.name.removesuffix(".toml") for p in data.iterdir() if p.name.endswith(".toml"))


def resolve_network_path(name_or_path: str) -> Path:
    """A shipped network's name (`lang-son`) or a file path."""
    if name_or_path in shipped_networks():
        return Path(str(resources.files("borderflow.network") / "data" / f"{name_or_path}.toml"))
    return Path(name_or_path)


def _key_path(loc: tuple[int | str, ...], raw: dict[str, Any]) -> str:
    """Turn pydantic's location into a readable key path, naming list items by their id."""
    parts: list[str] = []
    node: Any = raw
    for item in loc:
        if isinstance(item, int) and isinstance(node, list):
            entry = node[item] if item < len(node) else None
            label = entry.get("id") if isinstance(entry, dict) else None
            parts[-1:] = [f"{parts[-1] if parts else ''}[{label or item}]"]
            node = entry
        else:
            key = str(item)
            if key.endswith("_") and isinstance(node, dict) and key.rstrip("_") in node:
                key = key.rstrip("_")
            parts.append(key)
            node = node.get(key) if isinstance(node, dict) else None
    return ".".join(parts)


def validation_problems(exc: ValidationError, raw: dict[str, Any]) -> list[tuple[str, str]]:
    """(key path, reason) for each of pydantic's errors on a TOML file's content."""
    problems = []
    for err in exc.errors():
        loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and "[" in x))
        msg = err["msg"].removeprefix("Value error, ")
        key = _key_path(loc, raw)
        if not key and ": " in msg:  # a whole-file check names its own key path
            key, _, msg = msg.partition(": ")
        problems.append((key, msg))
    return problems


def read_toml(text: str, source: str,
              error: Callable[[str, list[tuple[str, str]]], Exception]) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(source, [("", f"not valid TOML: {exc}")]) from exc


def parse_network(text: str, source: str) -> Network:
    raw = read_toml(text, source, NetworkFileError)
    try:
        return Network.model_validate(raw)
    except ValidationError as exc:
        raise NetworkFileError(source, validation_problems(exc, raw)) from exc


def load_network_file(path: Path) -> Network:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise NetworkFileError(str(path), [("", "file not found")]) from exc
    except OSError as exc:
        raise NetworkFileError(str(path), [("", f"cannot read: {exc.strerror}")]) from exc
    return parse_network(text, str(path))


@lru_cache(maxsize=16)
def _cached(path: str, mtime: float) -> Network:
    return load_network_file(Path(path))


def load_network(name_or_path: str) -> Network:
    """Load (and cache while the file is unchanged) a shipped network or a file."""
    path = resolve_network_path(name_or_path)
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return load_network_file(path)  # raises a NetworkFileError with the reason
    return _cached(str(path.resolve()), mtime)
