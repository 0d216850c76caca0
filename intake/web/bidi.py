"""Right-to-left pages with left-to-right values in them, and the reverse (issue 14, item 4).

A receipt code, a phone number, coordinates, a weapon's designation, a file name or a name the user
typed is shown inside sentences of the interface language. Without isolation the Unicode
bidirectional algorithm lets it mix with the sentence around it: in Arabic "4821-ABCD" is drawn
"ABCD-4821", "+374 10 123456" comes out backwards and a Latin name at the end of a sentence pulls the
full stop to the wrong side. `{{ value|bdi }}` wraps the value in a `<bdi>`, whose direction comes from
its own first strong letter; `{{ value|bdi("ltr") }}` is for what is always written left to right
(codes, phone numbers, coordinates, addresses), where digits alone carry no direction of their own.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

DIRECTIONS = ("ltr", "rtl", "auto")


def isolate(value: Any, direction: str | None = None) -> Markup:
    """`value`, escaped, in a `<bdi>` (nothing for None or an empty string)."""
    if value is None or value == "":
        return Markup("")
    if direction is None:
        return Markup("<bdi>{value}</bdi>").format(value=value)
    if direction not in DIRECTIONS:
        raise ValueError(f"not a text direction: {direction!r}")
    return Markup('<bdi dir="{direction}">{value}</bdi>').format(direction=direction, value=value)


# Unicode's own isolates, for text where no markup can go (a page's <title>, a plain-text e-mail):
# LEFT-TO-RIGHT ISOLATE, FIRST STRONG ISOLATE and POP DIRECTIONAL ISOLATE.
_OPENING = {"ltr": "\u2066", "auto": "\u2068", "rtl": "\u2067"}
_CLOSING = "\u2069"


def isolate_text(value: Any, direction: str = "auto") -> str:
    """`value` between Unicode isolate marks: a `<bdi>` for plain text (nothing for None or "")."""
    if value is None or value == "":
        return ""
    if direction not in _OPENING:
        raise ValueError(f"not a text direction: {direction!r}")
    return f"{_OPENING[direction]}{value}{_CLOSING}"
