"""The store: raw message log, deliveries, entity state, cross-reference, control numbers,
audit. SQLite by default, PostgreSQL by URL.

``SqlStore`` implements ``hub.ports.Store`` (and its transactions, ``SqlUnit``,
``hub.ports.Unit``); the records it returns and the errors it raises are in ``hub.records``.
One module per table family, the engine in ``hub.store.engine``.
"""

from hub.store.engine import SqlStore, SqlUnit
from hub.store.urls import display_url, normalise_url

__all__ = ["SqlStore", "SqlUnit", "display_url", "normalise_url"]
