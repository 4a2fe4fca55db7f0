"""The store as the sync engine sees it: the one place ``hub.sync`` imports ``hub.store``.

The engine runs each event in one transaction (``Store.unit()``); the rules, the identity
service, merges and double-booking checks work on that ``Unit``. Keeping the import here
means a move of the store's classes touches this file only.
"""

from __future__ import annotations

from hub.store import EntityRecord, Store, Unit, VersionConflict

__all__ = ["EntityRecord", "Store", "Unit", "VersionConflict"]
