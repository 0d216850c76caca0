"""Transfer records and the diversion indicator (issue 17, item 2; design/evidence.md, "What moved a
government").

Coordinators record public facts about arms transfers — who exported what to whom, for which
authorised end user, when, and the public record it is known from (`records`). A report names the
state that used its weapon in the conflict, as reported and as a verifier assessed it (`use`). An item
of a report (platform, munition or component) that matches a transfer of the same catalogue entry made
before the event, and whose user in the conflict is neither the importing state nor the end user's
state, is a diversion indicator, with its reasoning in words (`diversion`).

Plain functions over a session; the caller commits. Every lookup is scoped to an organisation.
"""

from __future__ import annotations

from .catalogue import CatalogueMatch, country_code, match_designation
from .diversion import Indicator, Item, diversion_indicators, items_of, reasoning
from .records import (
    TransferError,
    TransferIn,
    create_transfer,
    delete_transfer,
    organisation_transfer,
    transfers_of,
    update_transfer,
)
from .use import assess_used_by, user_in_conflict

__all__ = [
    "CatalogueMatch", "Indicator", "Item", "TransferError", "TransferIn", "assess_used_by", "country_code",
    "create_transfer", "delete_transfer", "diversion_indicators", "items_of", "match_designation",
    "organisation_transfer", "reasoning", "transfers_of", "update_transfer", "user_in_conflict",
]
