"""``audit``: the append-only trail (a trigger enforces it, see ``hub.store.engine``)."""

from __future__ import annotations

from sqlalchemy import select

from hub.records import AuditRecord
from hub.store import schema as t
from hub.store.base import Operations, all_rows, aware, utcnow

__all__ = ["AuditOps"]

_AUDIT_INSERT = t.audit.insert()


class AuditOps(Operations):
    """The audit trail's operations (``hub.ports.AuditTrail``)."""

    async def audit(
        self,
        *,
        actor: str,
        action: str,
        outcome: str,
        subject: str | None = None,
        peer: str | None = None,
        detail: str | None = None,
    ) -> None:
        """Append one audit record. Never put PHI in ``subject`` or ``detail``."""
        row = dict(
            at=utcnow(),
            actor=actor,
            action=action,
            subject=subject,
            outcome=outcome,
            peer=peer,
            detail=detail,
        )
        await self._tx(lambda c: c.execute(_AUDIT_INSERT, row))

    async def audit_trail(
        self,
        *,
        action: str | None = None,
        subject: str | None = None,
        limit: int = 100,
    ) -> list[AuditRecord]:
        a = t.audit
        stmt = select(a)
        if action is not None:
            stmt = stmt.where(a.c.action == action)
        if subject is not None:
            stmt = stmt.where(a.c.subject == subject)
        stmt = stmt.order_by(a.c.id.desc()).limit(limit)
        rows = await self._tx(lambda c: all_rows(c, stmt))
        return [
            AuditRecord(
                r.id, aware(r.at), r.actor, r.action, r.subject, r.outcome, r.peer, r.detail
            )
            for r in rows
        ]
