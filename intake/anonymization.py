"""The anonymized view of a report, made by the workers (design/anonymization.md; report.md's classes).

The pipeline step `anonymize_report` runs the text engine (intake/anonymize) over the account and the
files' descriptions with the report's own names, phones and e-mails as a deny-list and one numbering
per report, applies the verifiers' corrections, gives victims and witnesses the organisation's keyed
pseudonyms, and puts a coarse cell in place of the exact point. It is idempotent: every run rebuilds
the view from the originals, so a changed report (an answer, a correction) simply runs again.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from . import crypto
from .models import Assessment, Organisation, RedactionCorrection, Report, StateTransition, utcnow
from .schema import MAX_KNOWN_IDENTIFIERS, MAX_NARRATIVE_CHARS

PLACEHOLDER = re.compile(r"\[([A-Z]+)-(\d+)\]")
CORRECTION_TYPES = ("PERSON", "PHONE", "EMAIL", "ID", "ADDRESS", "COORDINATE", "URL", "OTHER")


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    type: str
    placeholder: str


def pseudonym_key(session: Session, organisation_id: int) -> bytes:
    """The organisation's pseudonym key, made once by whichever worker needs it first.

    No lock is held across the anonymization that follows: the key is read, and only if the
    organisation has none yet, made in a short transaction of its own (on PostgreSQL: a connection
    of its own, committed at once): a compare-and-set that writes it only where there is still none,
    then the key that won is read back. Two workers racing both end with the same key. (Holding the
    organisation's row FOR UPDATE through the step made every audited write of the organisation,
    and through the audit chain every organisation, wait for the slowest report.)
    """
    keyring = crypto.active_keyring()
    column = Organisation.pseudonym_key_wrapped
    wrapped = session.scalar(select(column).where(Organisation.id == organisation_id))
    if wrapped is None:
        candidate = keyring.wrap(secrets.token_bytes(32))
        engine = session.get_bind()
        assert isinstance(engine, Engine)  # never a connection: the key is made outside the caller's transaction
        if engine.dialect.name != "postgresql":
            # SQLite has one writer for the whole database and no row locks: a second connection
            # would wait for the caller's own write lock. The key is set on the row in the caller's
            # session and written with the step's other changes, at its commit (the embedded default
            # runs one worker process, so no second worker races it).
            organisation = session.get(Organisation, organisation_id)
            if organisation is None:
                raise LookupError(f"no organisation {organisation_id}")
            organisation.pseudonym_key_wrapped = wrapped = candidate
            return keyring.unwrap(wrapped)
        with engine.begin() as connection:
            # A lock on the row held by the caller's own transaction would make this wait for ever.
            connection.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
            connection.execute(
                update(Organisation).where(Organisation.id == organisation_id, column.is_(None))
                .values(pseudonym_key_wrapped=candidate)
            )
            wrapped = connection.scalar(select(column).where(Organisation.id == organisation_id))
    if wrapped is None:
        raise LookupError(f"no organisation {organisation_id}")
    return keyring.unwrap(wrapped)


def coarse_cell(latitude: float | None, longitude: float | None, resolution: int) -> str | None:
    if latitude is None or longitude is None:
        return None
    import h3

    return str(h3.latlng_to_cell(latitude, longitude, resolution))


def export_cell(cell: str | None, resolution: int) -> str | None:
    """A coarser parent of a stored cell, for exports."""
    if not cell:
        return None
    import h3

    return str(h3.cell_to_parent(cell, min(resolution, h3.get_resolution(cell))))


def rebuild(text: str, spans: Iterable[Span]) -> str:
    out, at = [], 0
    for span in sorted(spans, key=lambda s: s.start):
        out.append(text[at:span.start])
        out.append(span.placeholder)
        at = span.end
    out.append(text[at:])
    return "".join(out)


def apply_corrections(text: str, spans: list[Span], corrections: list[RedactionCorrection],
                      numbering: Any) -> list[Span]:
    """Lift the redactions verifiers removed; hide every occurrence of what they added."""
    lifted = {c.surface.casefold() for c in corrections if c.kind == "remove" and c.surface}
    kept = [s for s in spans if text[s.start:s.end].casefold() not in lifted]
    for correction in corrections:
        if correction.kind != "add" or not correction.surface.strip():
            continue
        needle = re.escape(correction.surface.strip())
        for match in re.finditer(needle, text, flags=re.IGNORECASE):
            if any(s.start < match.end() and match.start() < s.end for s in kept):
                continue  # already (partly) hidden
            surface = match.group(0)
            if correction.entity_type == "PERSON":
                placeholder = numbering.person(surface, None, None)
            else:
                placeholder = numbering.other(correction.entity_type, surface)
            kept.append(Span(match.start(), match.end(), correction.entity_type, placeholder))
    return sorted(kept, key=lambda s: s.start)


# Shown, and anonymized, in place of an account over the limit (intake.schema refuses those at intake).
TOO_LONG = "[account withheld: too long to anonymize automatically]"


def anonymize_report(session: Session, config: dict[str, Any], report: Report) -> None:
    """Pipeline step: (re)build the report's anonymized view from its originals."""
    from .anonymize import Known, Numbering, detect_language, get_engine, hmac_pseudonymizer

    if report.erased:
        return
    engine = get_engine()
    pseudonymize = hmac_pseudonymizer(pseudonym_key(session, report.organisation_id))
    persons = [n for n in [*(v.name for v in report.victims), *(w.name for w in report.witnesses)] if n]
    phones = [w.phone for w in report.witnesses if w.phone]
    emails = [w.email for w in report.witnesses if w.email]
    bounds: list[str] = []
    # The schema bounds all this at intake; a report from before the bounds (or from a path that
    # skipped them) is bounded here too rather than keep the worker for minutes.
    if len(persons) + len(phones) + len(emails) > MAX_KNOWN_IDENTIFIERS:
        persons = persons[:MAX_KNOWN_IDENTIFIERS]
        phones = phones[:max(0, MAX_KNOWN_IDENTIFIERS - len(persons))]
        emails = emails[:max(0, MAX_KNOWN_IDENTIFIERS - len(persons) - len(phones))]
        bounds.append(f"only the first {MAX_KNOWN_IDENTIFIERS} known names, phones and e-mails were looked for")
    known = Known(persons=persons, phones=phones, emails=emails)
    numbering = Numbering()
    corrections = list(report.redaction_corrections)
    narrative = report.narrative or ""
    if len(narrative) > MAX_NARRATIVE_CHARS:
        # Not anonymized at all (a part would show the rest in the clear): withheld for a person.
        bounds.append(f"the account is longer than {MAX_NARRATIVE_CHARS:,} characters: withheld, not anonymized")
        narrative = TOO_LONG
    if not report.narrative_language and narrative.strip() and narrative is not TOO_LONG:
        report.narrative_language = detect_language(narrative)
    result = engine.anonymize(narrative, lang=report.narrative_language, known=known, pseudonymizer=pseudonymize,
                              numbering=numbering)
    spans = apply_corrections(narrative, [Span(e.start, e.end, e.type, e.placeholder) for e in result.entities],
                              corrections, numbering)
    redaction_map: dict[str, list[str]] = {}
    for span in spans:
        surfaces = redaction_map.setdefault(span.placeholder, [])
        if narrative[span.start:span.end] not in surfaces:
            surfaces.append(narrative[span.start:span.end])
    reasons = [*bounds, *result.review_reasons]
    def anonymized(text: str | None) -> str | None:
        if not text:
            return None
        found = engine.anonymize(text, lang=report.narrative_language, known=known, numbering=numbering)
        return rebuild(text, apply_corrections(text, [Span(e.start, e.end, e.type, e.placeholder)
                                                      for e in found.entities], corrections, numbering))

    # The review's free text: answers from the reporter, and comments and questions that may quote people;
    # reasons typed for a step (reject, reopen) or a lower grade quote people as comments do. Each is
    # sealed; one that did not change is not sealed and written again.
    def put(row: Any, name: str, source: str | None) -> None:
        value = anonymized(source)
        if getattr(row, name) != value:
            setattr(row, name, value)

    for attachment in report.attachments:
        put(attachment, "description_anonymized", attachment.description)
    for request in report.info_requests:
        put(request, "question_anonymized", request.question)
        put(request, "answer_anonymized", request.answer)
    for comment in report.comments:
        put(comment, "text_anonymized", comment.text)
    reasons_rows: list[StateTransition | Assessment] = [*report.transitions, *report.assessments]
    for row in reasons_rows:
        put(row, "reason_anonymized", row.reason)
    for victim in report.victims:
        victim.pseudonym = pseudonymize("PERSON", victim.name) if victim.name else None
    for witness in report.witnesses:
        witness.pseudonym = pseudonymize("PERSON", witness.name) if witness.name else None
    counts: dict[str, int] = {}
    for placeholder in redaction_map:
        kind = placeholder.strip("[]").rsplit("-", 1)[0]
        counts[kind] = counts.get(kind, 0) + 1
    report.narrative_anonymized = rebuild(narrative, spans)
    report.redaction_map = redaction_map
    report.anonymization = {
        "needs_review": bool(reasons),
        "reasons": reasons,
        "redactions": counts,
        "corrections": len(corrections),
    }
    report.location_cell = coarse_cell(report.latitude, report.longitude, int(config["LOCATION_CELL_RESOLUTION"]))
    report.anonymized_at = utcnow()


def segments(text: str | None) -> list[tuple[str, str | None]]:
    """The anonymized text cut into plain runs and placeholders, for highlighting on the review page."""
    if not text:
        return []
    out: list[tuple[str, str | None]] = []
    at = 0
    for match in PLACEHOLDER.finditer(text):
        if match.start() > at:
            out.append((text[at:match.start()], None))
        out.append((match.group(0), match.group(1)))
        at = match.end()
    if at < len(text):
        out.append((text[at:], None))
    return out
