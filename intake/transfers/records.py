"""Transfer records: what a coordinator types (`TransferIn`, the one set of rules for the web form and
the command line) and the audited create, change and delete of the organisation's records."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from flask_babel import gettext as _
from pydantic import AfterValidator, Field, StringConstraints, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit import record
from ..enums import AuditAction, TransferDatePrecision, TransferItemKind, TransferSourceKind
from ..models import Transfer, User, utcnow
from ..schema import (
    HTTP_URL_PATTERN,
    MAX_COUNT,
    Country,
    NotBool,
    _Strict,
    check_http_url,
    check_not_ancient,
    check_not_future,
)
from .catalogue import match_designation

PERIOD_RE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
FIELDS = ("exporting_state", "importing_state", "end_user", "end_user_state", "designation", "item_kind",
          "quantity", "date", "source_kind", "source_citation", "source_url", "notes")


class TransferError(ValueError):
    """A change to a transfer record that cannot be made as asked (the message is for the person acting)."""


def parse_period(text: str) -> tuple[dt.date, TransferDatePrecision]:
    """`2020-05-14`, `2020-05` or `2020` as the first day of the period and its precision."""
    found = PERIOD_RE.fullmatch(text.strip())
    if found is None:
        raise ValueError(_("Enter the date as YYYY-MM-DD, YYYY-MM or YYYY."))
    year, month, day = found.groups()
    try:
        start = dt.date(int(year), int(month or 1), int(day or 1))
    except ValueError:
        raise ValueError(_("There is no such date.")) from None
    check_not_ancient(start)
    check_not_future(start)
    precision = (TransferDatePrecision.DAY if day else TransferDatePrecision.MONTH if month
                 else TransferDatePrecision.YEAR)
    return start, precision


def format_period(start: dt.date, precision: TransferDatePrecision) -> str:
    """The period as the source gives it: `2020-05-14`, `2020-05` or `2020`."""
    if precision == TransferDatePrecision.YEAR:
        return f"{start.year:04d}"
    if precision == TransferDatePrecision.MONTH:
        return f"{start.year:04d}-{start.month:02d}"
    return start.isoformat()


def _check_period(text: str) -> str:
    parse_period(text)
    return text.strip()


Required200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class TransferIn(_Strict):
    """A transfer record as typed: public facts only (design/evidence.md). On the report schema's strict
    base, so it refuses unknown keys and NUL characters, and takes a blank value as an absent one."""

    exporting_state: Country
    importing_state: Country
    end_user: Required200 = Field(description='The authorised end user the source names, e.g. "Baykar".')
    end_user_state: Country | None = Field(None, description="Where it is not the importing state.")
    designation: Required200 = Field(description="The item as the source names it, e.g. MX-15D.")
    item_kind: TransferItemKind | None = Field(None, description="Taken from the weapon catalogue if not given.")
    quantity: Annotated[int, Field(ge=1, le=MAX_COUNT), NotBool] | None = None
    date: Annotated[str, StringConstraints(max_length=10), AfterValidator(_check_period)]
    source_kind: TransferSourceKind
    source_citation: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=1000)]
    source_url: Annotated[str, StringConstraints(max_length=2000), AfterValidator(check_http_url)] | None = Field(
        None, json_schema_extra={"pattern": HTTP_URL_PATTERN})
    notes: Annotated[str, StringConstraints(max_length=5000)] | None = None

    @model_validator(mode="after")
    def _rules_over_fields(self) -> TransferIn:
        # Both said at once, each at its field, so the form shows every problem on the first submit.
        problems: list[tuple[str, str]] = []
        if self.exporting_state == self.importing_state:
            problems.append(("importing_state", _("The importing state must differ from the exporting state.")))
        if self.item_kind is None:
            found = match_designation(self.designation)
            if found is None:
                problems.append(("item_kind", _("This designation is not in the weapon catalogue: choose the "
                                                "kind of item.")))
            else:
                self.item_kind = TransferItemKind(found.kind)
        if problems:
            raise _at(problems)
        return self

    def period(self) -> tuple[dt.date, TransferDatePrecision]:
        return parse_period(self.date)


def _at(problems: list[tuple[str, str]]) -> Exception:
    """Model-level errors, each reported at its field, so the form shows it there."""
    from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

    return ValidationError.from_exception_data("TransferIn", [InitErrorDetails(
        type=PydanticCustomError("transfer_rule", message), loc=(field,), input=None) for field, message in problems])


def as_input(transfer: Transfer) -> dict[str, Any]:
    """A stored record as `TransferIn` takes it (the edit form starts from it)."""
    return {
        "exporting_state": transfer.exporting_state, "importing_state": transfer.importing_state,
        "end_user": transfer.end_user, "end_user_state": transfer.end_user_state,
        "designation": transfer.designation, "item_kind": transfer.item_kind.value, "quantity": transfer.quantity,
        "date": format_period(transfer.transfer_date, transfer.date_precision),
        "source_kind": transfer.source_kind.value, "source_citation": transfer.source_citation,
        "source_url": transfer.source_url, "notes": transfer.notes,
    }


def _apply(transfer: Transfer, data: TransferIn) -> list[str]:
    """Write `data` into `transfer`; the names of the fields that changed."""
    start, precision = data.period()
    match = match_designation(data.designation)
    values: dict[str, Any] = {
        "exporting_state": data.exporting_state, "importing_state": data.importing_state,
        "end_user": data.end_user, "end_user_state": data.end_user_state, "designation": data.designation,
        "catalogue_name": match.name if match is not None else None, "item_kind": data.item_kind,
        "quantity": data.quantity, "transfer_date": start, "date_precision": precision,
        "source_kind": data.source_kind, "source_citation": data.source_citation,
        "source_url": data.source_url, "notes": data.notes,
    }
    changed = [name for name, value in values.items() if getattr(transfer, name, None) != value]
    for name in changed:
        setattr(transfer, name, values[name])
    return changed


def _audit(session: Session, action: AuditAction, actor: User | None, transfer: Transfer,
           **detail: str | int | bool | None) -> None:
    # Public facts only, and never the free text (citation, notes): the record itself keeps those.
    record(action.value, actor=actor, organisation_id=transfer.organisation_id, target_type="transfer",
           target_id=transfer.public_id, detail={
               "item": transfer.catalogue_name or transfer.designation[:100], "from": transfer.exporting_state,
               "to": transfer.importing_state, **detail}, session=session)


def create_transfer(session: Session, organisation_id: int, actor: User | None, data: TransferIn,
                    via: str = "web") -> Transfer:
    """A new transfer record of the organisation, audited (`actor` None: the command line)."""
    if actor is not None and actor.organisation_id != organisation_id:
        raise TransferError(_("Not found."))
    transfer = Transfer(organisation_id=organisation_id, created_by_id=actor.id if actor is not None else None)
    _apply(transfer, data)
    session.add(transfer)
    session.flush()
    _audit(session, AuditAction.TRANSFER_CREATED, actor, transfer, via=via)
    return transfer


def update_transfer(session: Session, actor: User, transfer: Transfer, data: TransferIn) -> list[str]:
    """Change a record; audited with the names of the fields that changed (nothing changed: no entry)."""
    if actor.organisation_id != transfer.organisation_id:
        raise TransferError(_("Not found."))
    changed = _apply(transfer, data)
    if changed:
        transfer.updated_at = utcnow()
        session.flush()
        _audit(session, AuditAction.TRANSFER_UPDATED, actor, transfer, changed=",".join(changed))
    return changed


def delete_transfer(session: Session, actor: User, transfer: Transfer) -> None:
    """Delete a record; the audit entry keeps what it was about."""
    if actor.organisation_id != transfer.organisation_id:
        raise TransferError(_("Not found."))
    _audit(session, AuditAction.TRANSFER_DELETED, actor, transfer)
    session.delete(transfer)
    session.flush()


def organisation_transfer(session: Session, organisation_id: int, public_id: str) -> Transfer | None:
    """A transfer record by public id, only within the organisation."""
    return session.scalar(select(Transfer).where(Transfer.public_id == public_id,
                                                 Transfer.organisation_id == organisation_id))


def transfers_of(session: Session, organisation_id: int, *, catalogue_names: set[str] | None = None,
                 limit: int | None = None) -> list[Transfer]:
    """The organisation's transfer records, latest transfer first; only those of `catalogue_names` if given."""
    query = select(Transfer).where(Transfer.organisation_id == organisation_id)
    if catalogue_names is not None:
        query = query.where(Transfer.catalogue_name.in_(sorted(catalogue_names)))
    query = query.order_by(Transfer.transfer_date.desc(), Transfer.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def transfer_json(transfer: Transfer) -> dict[str, Any]:
    """A record as the JSON API and `intake transfer list --json` give it."""
    return {
        "id": transfer.public_id, **as_input(transfer), "catalogue_name": transfer.catalogue_name,
        "date_precision": transfer.date_precision.value, "created_at": transfer.created_at.isoformat(),
        "updated_at": transfer.updated_at.isoformat(),
    }
