"""Database URLs: what the user writes → what SQLAlchemy's async drivers need."""

from __future__ import annotations

import os
from pathlib import Path

from hub.errors import ConfigError

__all__ = ["DEFAULT_DB_FILE", "display_url", "normalise_url"]

DEFAULT_DB_FILE = "carehub.db"


def normalise_url(url: str | None) -> str:
    """``None`` → a SQLite file in the working directory; ``sqlite:///x`` → SQLite (run
    inline, see ``hub.store.engine``); ``postgres://`` / ``postgresql://`` → asyncpg. Anything
    else is a configuration error."""
    if not url:
        return f"sqlite:///{Path(DEFAULT_DB_FILE).resolve()}"
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ConfigError(
            f"database URL {display_url(url)!r} has no scheme "
            "(expected sqlite:///FILE or postgresql://…)"
        )
    base = scheme.split("+", 1)[0]
    if base == "sqlite":
        path = rest[1:] if rest.startswith("/") else rest
        if path and path != ":memory:":
            Path(path).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite://{rest}"
    if base in ("postgres", "postgresql"):
        return f"postgresql+asyncpg://{rest}"
    raise ConfigError(f"unsupported database URL scheme {scheme!r} (use sqlite or postgresql)")


def display_url(url: str) -> str:
    """The URL with any password replaced, for messages and logs."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url


def env_db_url() -> str | None:
    return os.environ.get("CAREHUB_DB_URL") or None
