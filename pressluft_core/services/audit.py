"""Reading the audit log (writing happens in :func:`services.base.mutation`)."""

from __future__ import annotations

from pressluft_core.models import AuditLog
from pressluft_core.records import AuditRecord, from_row
from pressluft_core.services.base import Service


class AuditService(Service):
    def list(self, token: str, limit: int = 200, resource_id: str | None = None,
             action: str | None = None) -> list[AuditRecord]:
        self.auth.require(token)
        query = AuditLog.select().order_by(AuditLog.created_at.desc(), AuditLog.id)
        if resource_id:
            query = query.where(AuditLog.resource_id == resource_id)
        if action:
            query = query.where(AuditLog.action == action)
        return [from_row(AuditRecord, row) for row in query.limit(limit)]
