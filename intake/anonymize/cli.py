"""The JSON-lines loop behind `intake anonymize-text`: the same engine call the worker makes."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import IO, Any

from .engine import Engine, Known, Numbering, Pseudonymizer


class LineError(ValueError):
    """A line that is not a valid request; the message names the problem, never the content."""


def _strings(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise LineError(f"known.{field} must be a list of strings")
    return value


def parse_request(line: str) -> dict[str, Any]:
    try:
        request = json.loads(line)
    except ValueError:
        raise LineError("not valid JSON") from None
    if not isinstance(request, dict):
        raise LineError("not a JSON object")
    if not isinstance(request.get("text"), str):
        raise LineError("text must be a string")
    lang = request.get("lang")
    if lang is not None and not isinstance(lang, str):
        raise LineError("lang must be a string or null")
    known = request.get("known") or {}
    if not isinstance(known, dict):
        raise LineError("known must be an object")
    request["known"] = Known(persons=_strings(known.get("persons"), "persons"),
                             phones=_strings(known.get("phones"), "phones"),
                             emails=_strings(known.get("emails"), "emails"))
    return request


def _request_id(line: str) -> Any:
    """The id of a line, if one can be read from it; only a string or a number is echoed back."""
    try:
        value = json.loads(line).get("id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str | int) and not isinstance(value, bool) else None


def process_lines(lines: Iterable[str], out: IO[str], engine: Engine, pseudonymizer: Pseudonymizer | None) -> int:
    """Anonymize each line; write one JSON line per input line. Returns the number of failed lines."""
    failed = 0
    numbering_for: tuple[Any, Numbering] = (None, Numbering())
    for line in lines:
        if not line.strip():
            continue
        request_id = _request_id(line)
        try:
            request = parse_request(line)
            report = request.get("report")
            if report is None or report != numbering_for[0]:
                numbering_for = (report, Numbering())
            result = engine.anonymize(request["text"], lang=request.get("lang"), known=request["known"],
                                      pseudonymizer=pseudonymizer, numbering=numbering_for[1])
        except LineError as exc:
            failed += 1
            answer: dict[str, Any] = {"id": request_id, "error": str(exc)}
        except Exception as exc:  # one bad line must not stop the stream; its text is never shown
            failed += 1
            answer = {"id": request_id, "error": f"anonymization failed: {type(exc).__name__}"}
        else:
            answer = {"id": request_id, "text": result.text,
                      "entities": [{"start": e.start, "end": e.end, "type": e.type} for e in result.entities],
                      "needs_review": result.needs_review, "review_reasons": result.review_reasons}
            if pseudonymizer is not None:
                answer["pseudonyms"] = result.pseudonyms
        out.write(json.dumps(answer, ensure_ascii=False) + "\n")
        out.flush()
    return failed
