"""The chain of custody of a pack's items, as hash-chained JSON lines (design/evidence.md, Berkeley
Protocol points: every change, copy and transfer is recorded, with the UTC time, the tool, the
SHA-256 and who did it).

Each line: `seq`, `event` (received, hashed, derived, revealed, graded, signed off, exported),
`object` (the report, file or pack concerned, by public id), `actor_role`, `time`, `sha256_before`,
`sha256_after`, `tool`, `audit_entry` (the hash of the audit log entry it was drawn from, which a
reader with access to the server can look up; null when it comes from the record itself, such as a
file's arrival) and `prev_hash`; `hash` is the SHA-256 of the line's canonical form without it.
The first line's `prev_hash` is 64 zeros. Changing, removing or reordering a line breaks the chain
at that line, and `verify_lines` names it — with nothing but the file.

No line holds a name, an e-mail, a reason typed for a reveal, or any value of a report.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64
EVENTS = ("received", "hashed", "derived", "revealed", "graded", "signed off", "exported")
FIELDS = ("seq", "event", "object", "actor_role", "time", "sha256_before", "sha256_after", "tool", "audit_entry",
          "prev_hash")


@dataclass(frozen=True)
class Event:
    """One custody event before it is numbered and chained."""

    event: str
    object: str
    actor_role: str | None
    time: dt.datetime
    sha256_before: str | None = None
    sha256_after: str | None = None
    tool: str | None = None
    audit_entry: str | None = None

    def order(self) -> tuple[Any, ...]:
        # The pack's own export is the last line, whatever the clocks said.
        return (self.event == "exported", self.time, EVENTS.index(self.event), self.object,
                self.sha256_after or "", self.audit_entry or "")


def canonical(line: dict[str, Any]) -> bytes:
    return json.dumps({k: line[k] for k in FIELDS}, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":")).encode("utf-8")


def _time(value: dt.datetime, month_only: bool) -> str:
    value = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m") if month_only else value.isoformat(timespec="seconds").replace("+00:00", "Z")


def chain(events: Iterable[Event], *, month_only: bool = False,
          exact_after: dt.datetime | None = None) -> Iterator[str]:
    """The events in time order as chained JSON lines (each ends with a newline).

    `month_only`: times as the month (the public tier: the day a report arrived or was graded would
    narrow the date of an event it gives as the month); events at or after `exact_after` (the
    pack's own export) keep their full time."""
    prev = GENESIS
    for seq, event in enumerate(sorted(events, key=Event.order), 1):
        coarse = month_only and not (exact_after is not None and event.time >= exact_after)
        line: dict[str, Any] = {
            "seq": seq, "event": event.event, "object": event.object, "actor_role": event.actor_role,
            "time": _time(event.time, coarse), "sha256_before": event.sha256_before,
            "sha256_after": event.sha256_after, "tool": event.tool, "audit_entry": event.audit_entry,
            "prev_hash": prev,
        }
        digest = hashlib.sha256(canonical(line)).hexdigest()
        line["hash"] = digest
        prev = digest
        yield json.dumps(line, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"


def verify_lines(lines: Iterable[str]) -> str | None:
    """None when the chain holds; else the first thing that does not, naming the line."""
    prev, expected_seq = GENESIS, 1
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            return f"custody.jsonl line {number}: empty line"
        try:
            line = json.loads(raw)
        except ValueError:
            return f"custody.jsonl line {number}: not JSON"
        if not isinstance(line, dict) or any(k not in line for k in (*FIELDS, "hash")):
            return f"custody.jsonl line {number}: fields missing"
        if line["seq"] != expected_seq:
            return (f"custody.jsonl line {number}: seq {line['seq']} where {expected_seq} was due "
                    "(a line removed or moved)")
        if line["prev_hash"] != prev:
            return f"custody.jsonl line {number}: prev_hash does not match the line before"
        if line["event"] not in EVENTS:
            return f"custody.jsonl line {number}: unknown event {line['event']!r}"
        if hashlib.sha256(canonical(line)).hexdigest() != line["hash"]:
            return f"custody.jsonl line {number}: hash does not match the line (altered)"
        prev, expected_seq = line["hash"], expected_seq + 1
    if expected_seq == 1:
        return "custody.jsonl: no lines"
    return None
