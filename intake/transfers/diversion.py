"""The diversion indicator: an item found in the conflict that matches a public transfer record, in the
hands of a state that is neither the importing state nor the end user's.

An indicator is not a finding: it says that the record and the report, side by side, do not fit, and
says why in words ("7 MX-15D permitted from CA to TR, end user Baykar, 2020-05 (source: …); used by AZ
on 2020-10-04, as reported; AZ is neither the importing state nor the end user's state"). The pure
function `diversion_indicators` computes them, so the incident page, the review page and the evidence
pack show the same ones.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext
from markupsafe import Markup
from sqlalchemy.orm import Session

from ..enums import DatePrecision, TransferSourceKind
from ..models import Report, Transfer
from .catalogue import end_user_state_of, match_designation
from .records import format_period, transfers_of
from .use import user_in_conflict


@dataclass(frozen=True)
class Item:
    """One platform, munition or component a report names, with who used it and when."""

    what: str  # platform, munition or component
    designation: str  # as the report gives it
    catalogue_name: str | None  # the weapon catalogue's entry it names, if any
    user: str | None  # the state that used it in the conflict (ISO alpha-2)
    user_basis: str  # "reported" or "assessed"
    occurred_on: dt.date
    date_precision: DatePrecision
    report_id: str  # the report's public id


@dataclass(frozen=True)
class Indicator:
    """An item whose user in the conflict differs from the authorised end user of a matching transfer."""

    item: Item
    transfer: Transfer
    end_user_state: str  # the end user's state as compared (given, known from the catalogue, or the importer)


def items_of(reports: Iterable[Report]) -> list[Item]:
    """The platforms, munitions and components the reports name (a model given), in report order."""
    items: list[Item] = []
    for report in reports:
        user, basis = user_in_conflict(report)
        named = [("platform", report.platform_model), ("munition", report.munition_model)]
        named += [("component", component.model) for component in report.components]
        for what, designation in named:
            text = " ".join((designation or "").split())
            if not text:
                continue
            match = match_designation(text)
            items.append(Item(what, text, match.name if match is not None else None, user, basis,
                              report.occurred_on, report.date_precision, report.public_id))
    return items


def end_user_state(transfer: Transfer) -> str:
    """The end user's state: as recorded, else as the catalogue knows the end user, else the importer."""
    return transfer.end_user_state or end_user_state_of(transfer.end_user) or transfer.importing_state


def diversion_indicators(session: Session, organisation_id: int, items: Iterable[Item]) -> list[Indicator]:
    """Every item that matches one of the organisation's transfers (the same catalogue entry, the transfer
    dated before the event) and whose user in the conflict is neither the transfer's importing state nor
    its end user's state. An item with no known user gives none. One indicator per transfer, user and
    event, however many reports name the item."""
    items = [item for item in items if item.catalogue_name and item.user]
    names = {item.catalogue_name for item in items if item.catalogue_name}
    if not names:
        return []
    by_name: dict[str, list[Transfer]] = {}
    for transfer in transfers_of(session, organisation_id, catalogue_names=names):
        by_name.setdefault(transfer.catalogue_name or "", []).append(transfer)
    found: list[Indicator] = []
    seen: set[tuple[int, str, dt.date]] = set()
    for item in items:
        for transfer in by_name.get(item.catalogue_name or "", []):
            if transfer.transfer_date >= item.occurred_on:
                continue
            state = end_user_state(transfer)
            if item.user in (transfer.importing_state, state):
                continue
            key = (transfer.id, item.user or "", item.occurred_on)
            if key not in seen:
                seen.add(key)
                found.append(Indicator(item, transfer, state))
    return found


def _event_date(item: Item) -> str:
    if item.date_precision == DatePrecision.MONTH:
        return f"{item.occurred_on.year:04d}-{item.occurred_on.month:02d}"
    return item.occurred_on.isoformat()


def reasoning(indicator: Indicator, isolate: Callable[[str], Any] | None = None) -> str:
    """The indicator's reasoning in words, in the reader's language. With `isolate` (the pages' `bdi`
    filter) every value is isolated and escaped, and the result is markup."""

    def value(text: str) -> Any:
        return isolate(text) if isolate is not None else text

    transfer, item = indicator.transfer, indicator.item
    facts = {"item": value(transfer.catalogue_name or transfer.designation),
             "exporter": value(transfer.exporting_state),
             "importer": value(transfer.importing_state), "end_user": value(transfer.end_user),
             "date": value(format_period(transfer.transfer_date, transfer.date_precision)),
             "source": value(transfer.source_citation)}
    permitted = transfer.source_kind == TransferSourceKind.PERMIT_LIST
    if transfer.quantity and permitted:
        moved = ngettext("%(num)d %(item)s permitted from %(exporter)s to %(importer)s, end user %(end_user)s, "
                         "%(date)s (source: %(source)s)",
                         "%(num)d %(item)s permitted from %(exporter)s to %(importer)s, end user %(end_user)s, "
                         "%(date)s (source: %(source)s)", transfer.quantity, **facts)
    elif transfer.quantity:
        moved = ngettext("%(num)d %(item)s transferred from %(exporter)s to %(importer)s, end user %(end_user)s, "
                         "%(date)s (source: %(source)s)",
                         "%(num)d %(item)s transferred from %(exporter)s to %(importer)s, end user %(end_user)s, "
                         "%(date)s (source: %(source)s)", transfer.quantity, **facts)
    elif permitted:
        moved = _("%(item)s permitted from %(exporter)s to %(importer)s, end user %(end_user)s, %(date)s "
                  "(source: %(source)s)", **facts)
    else:
        moved = _("%(item)s transferred from %(exporter)s to %(importer)s, end user %(end_user)s, %(date)s "
                  "(source: %(source)s)", **facts)
    user, when = value(item.user or ""), value(_event_date(item))
    if item.user_basis == "assessed":
        used = _("used by %(user)s on %(date)s, as assessed at review", user=user, date=when)
    else:
        used = _("used by %(user)s on %(date)s, as reported", user=user, date=when)
    why = _("%(user)s is neither the importing state nor the end user's state", user=user)
    text = _("%(transfer)s; %(use)s; %(conclusion)s", transfer=moved, use=used, conclusion=why)
    # The values are escaped by `isolate`; the sentence around them is the catalogue's, trusted as
    # Jinja trusts every translated string.
    return Markup(text) if isolate is not None else text  # noqa: S704
