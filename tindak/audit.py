"""The audit trail: every change to the data leaves a record of who did it."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session

from models import AuditRecord


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def record(
    session: Session,
    actor: str,
    action: str,
    entity: str,
    key: str,
    changes: dict[str, tuple[Any, Any]] | dict[str, Any] | None = None,
) -> None:
    """Add one audit record to the session's transaction (committed with the change)."""
    body = {k: [_plain(v[0]), _plain(v[1])] if isinstance(v, tuple) else _plain(v)
            for k, v in (changes or {}).items()}
    session.add(
        AuditRecord(
            actor=actor, action=action, entity=entity, entity_key=key,
            changes=json.dumps(body, ensure_ascii=False, sort_keys=True),
        )
    )


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {k: (before.get(k), v) for k, v in after.items() if before.get(k) != v}
