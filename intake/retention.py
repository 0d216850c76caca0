"""Retention: originals of reports in some states are erased after a set time (security.md, invariant 9).

`RETENTION_DAYS` maps a report state to days, e.g. `{"rejected": 180}`: a report that has been in
that state for longer loses its data key — identities, exact place, raw narrative and original
files — while its publishable fields stay. A periodic task applies the rules; each erasure is
written to the audit log.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .config import ConfigError
from .enums import AuditAction, ReportState
from .keys import erase_report, purge_after_erasure, shred_pending
from .models import DataKey, Report, utcnow


def retention_rules(config: dict[str, Any]) -> dict[ReportState, int]:
    """The configured rules, checked: a typo in a state name must not silently keep data forever."""
    rules: dict[ReportState, int] = {}
    for state, days in dict(config.get("RETENTION_DAYS") or {}).items():
        try:
            parsed = ReportState(state)
        except ValueError:
            raise ConfigError(f"RETENTION_DAYS names an unknown report state: {state!r}") from None
        if not isinstance(days, int) or isinstance(days, bool) or days < 1:
            raise ConfigError(f"RETENTION_DAYS[{state!r}] must be a whole number of days, at least 1")
        rules[parsed] = days
    return rules


def due_for_erasure(session: Session, config: dict[str, Any], now: dt.datetime | None = None,
                    limit: int = 200) -> list[Report]:
    now = now or utcnow()
    due: list[Report] = []
    for state, days in retention_rules(config).items():
        cutoff = now - dt.timedelta(days=days)
        due += session.scalars(
            select(Report)
            .join(DataKey, Report.data_key_id == DataKey.id)
            .where(Report.state == state, Report.state_changed_at < cutoff, DataKey.wrapped.is_not(None))
            .order_by(Report.id)
            .limit(limit)
        ).all()
    return due


def apply_retention(session: Session, config: dict[str, Any], now: dt.datetime | None = None) -> int:
    """Erase what the rules say is due, one report per transaction. Returns how many were erased."""
    from .audit import record

    rules = retention_rules(config)
    erased = 0
    while True:
        batch = due_for_erasure(session, config, now)
        if not batch:
            # The erased keys' epochs are shredded (also any left by an interrupted pass or by another
            # erasure), then the database is purged of the old rows as far as the engine allows. The
            # purge runs at every pass: PostgreSQL keeps a deleted row version while a transaction
            # that may see it is open, so a pass can only finish what an earlier one could not.
            shredded = shred_pending(session)
            session.commit()
            purge_after_erasure(session.get_bind(), thorough=bool(erased or shredded))  # type: ignore[arg-type]
            return erased
        for report in batch:
            files = erase_report(session, config, report)
            record(AuditAction.ORIGINALS_ERASED.value, actor=None, organisation_id=report.organisation_id,
                   target_type="report", target_id=report.public_id,
                   detail={"rule": f"{report.state.value} after {rules[report.state]} days", "files": files},
                   session=session)
            session.commit()
            erased += 1
