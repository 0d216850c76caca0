"""The casualty table and the people listed one by one, reconciled.

A report counts people by harm and group (the table) and may also list people one by one. The two
disagree when more people are listed with a harm than the table counts for it: two people listed
as killed over a table of zeros. Fewer people listed than counted is no disagreement (the list is
optional; a reporter often knows numbers before names). Whatever the reporter confirms, the report
says at least the larger of the two, and that is what the queue's priority is derived from, on
every channel (web form, API, ODK) alike.

Groups are not compared: a person's group (man, woman, boy, girl) depends on an age the list may
not give, and a table filled under "unknown" is no mistake.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .enums import Harm

PRIORITY_HARMS = (Harm.KILLED, Harm.INJURED)


@dataclass(frozen=True)
class Disagreement:
    """More people listed with `harm` than the table counts."""

    harm: Harm
    counted: int
    listed: int


def listed_by_harm(victims: Iterable[Any]) -> dict[Harm, int]:
    """How many people the list gives for each harm (anything with a `harm`)."""
    found = dict.fromkeys(Harm, 0)
    for victim in victims:
        if victim.harm is not None:
            found[Harm(victim.harm)] += 1
    return found


def reckoned(counted: Mapping[Harm, int], listed: Mapping[Harm, int]) -> dict[Harm, int]:
    """What the report says at least, for each harm: the larger of the table and the list."""
    return {harm: max(int(counted.get(harm, 0)), int(listed.get(harm, 0))) for harm in Harm}


def priority_total(counted: Mapping[Harm, int], listed: Mapping[Harm, int]) -> int:
    """The queue's priority key: killed and injured, each the larger of the table and the list."""
    at_least = reckoned(counted, listed)
    return sum(at_least[harm] for harm in PRIORITY_HARMS)


def disagreements(counted: Mapping[Harm, int], listed: Mapping[Harm, int]) -> list[Disagreement]:
    """Each harm for which more people are listed than counted, in the order of `Harm`."""
    return [Disagreement(harm, int(counted.get(harm, 0)), int(listed.get(harm, 0))) for harm in Harm
            if int(listed.get(harm, 0)) > int(counted.get(harm, 0))]


def report_in_disagreements(data: Any) -> list[Disagreement]:
    """The disagreements of a report as submitted (a `schema.ReportIn`)."""
    counted = {harm: sum(getattr(data, harm.value).model_dump().values()) for harm in Harm}
    return disagreements(counted, listed_by_harm(data.victims))
