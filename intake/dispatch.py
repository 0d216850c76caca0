"""Handing work to the workers, after the transaction that made it has committed.

Two queues, worked by separate worker pools that scale independently (`intake serve`, the compose
file): `text` for everything about text (filing journalled submissions, the pipeline of a report
whose files are all cleaned or that has none, the periodic duties) and `media` for the pipeline of a
report with a file still to check or clean. Cleaning a 12-megapixel photo takes a second or more of
CPU, a text-only report a few milliseconds: on one queue, a burst of photos would hold every text
report behind it; on two, the anonymized view of a text report is ready while photos are still
being cleaned. A report with files runs whole on the media queue, so it reaches triage with its
cleaned copies and its anonymized text together, never a verifier's view with files half done.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from flask import after_this_request, current_app, g, has_request_context
from kombu.exceptions import ChannelError

log = logging.getLogger(__name__)

TEXT_QUEUE = "text"
MEDIA_QUEUE = "media"
QUEUES = (TEXT_QUEUE, MEDIA_QUEUE)

# After the broker failed once, this process does not try it again for a while: every request
# would otherwise wait out the connection timeout, and the outbox holds the work anyway.
BROKER_BACKOFF_SECONDS = 30.0
_lock = threading.Lock()
_broker_down_until = 0.0


def dispatch_report(report_id: int, queue: str | None = None) -> bool:
    """Queue the pipeline for a report, on the media queue while a file of it is still to be checked
    or cleaned, on the text queue otherwise (`queue`: the caller already knows which). Returns False
    if the broker could not be reached.

    Never raises: the report and its pipeline job are already committed, and the periodic sweep
    dispatches the job again if this message never arrives.
    """
    if has_request_context():
        g.setdefault("_intake_dispatched", set()).add(report_id)
    return _send("intake.process_report", report_id, queue or report_queue(report_id))


def report_queue(report_id: int) -> str:
    """The queue a report's pipeline run belongs on (see the module's docstring)."""
    from .extensions import db
    from .media import media_work_owed

    try:
        owed = bool(db.session.scalar(media_work_owed(report_id)))
    except Exception as exc:  # the database failed: the media queue can do either kind of work
        log.warning("report %s: could not tell whether files are owed work (%s)", report_id, type(exc).__name__)
        return MEDIA_QUEUE
    return MEDIA_QUEUE if owed else TEXT_QUEUE


def dispatch_report_after_request(report_id: int) -> None:
    """Queue the pipeline for a report once the current request's view has returned (everything it
    changed committed), unless the view dispatched it itself meanwhile: one message per report,
    sent after the last change. Outside a request, at once."""
    if not has_request_context():
        dispatch_report(report_id)
        return
    later: list[int] = g.setdefault("_intake_dispatch_later", [])
    if not later:
        @after_this_request
        def _send_later(response: Any) -> Any:
            sent = g.get("_intake_dispatched", set())
            for owed in dict.fromkeys(g.get("_intake_dispatch_later", [])):
                if owed not in sent:
                    dispatch_report(owed)
            return response
    later.append(report_id)


def dispatch_submission(entry_id: int) -> bool:
    """Queue the filing of a journalled submission (then its pipeline); as `dispatch_report`."""
    return _send("intake.file_submission", entry_id, TEXT_QUEUE)


def dispatch_odk_encrypted(entry_id: int) -> bool:
    """Have a worker decrypt and file an encrypted ODK submission (`openrosa.decrypt`)."""
    return _send("intake.file_odk_encrypted", entry_id, TEXT_QUEUE)


def dispatch_odk_form_key(key_id: int) -> bool:
    """Have a worker make an organisation's form key pair (the private key is made there, not here)."""
    return _send("intake.make_odk_form_key", key_id, TEXT_QUEUE)


def dispatch_question_notice(request_id: int) -> bool:
    """Queue the notice that question `request_id` waits for its reporter (intake.notices), after
    the commit. A notice is a courtesy: with the broker down it is not sent (and said so in the
    log), and the question still waits on *My reports*, counted in the menu."""
    if time.monotonic() < _broker_down_until:
        return False
    try:
        current_app.extensions["celery"].send_task("intake.notify_question", args=[request_id], queue=TEXT_QUEUE)
    except Exception as exc:
        _back_off()
        log.warning("question %s: could not reach the broker (%s); no notice sent", request_id, type(exc).__name__)
        return False
    return True


def dispatch_pack(job_id: int) -> bool:
    """Queue the build of evidence pack job `job_id`, after the commit, on the media queue: a pack
    reads and copies media and draws a PDF, seconds to minutes of work that must not hold text
    reports behind it. Returns False if the broker could not be reached (the job stays queued and
    its page offers to queue it again)."""
    return _send("intake.build_evidence_pack", job_id, MEDIA_QUEUE)


def _send(task: str, object_id: int, queue: str) -> bool:
    if time.monotonic() < _broker_down_until:
        return False
    celery = current_app.extensions["celery"]
    try:
        celery.send_task(task, args=[object_id], queue=queue)
    except Exception as exc:  # any broker failure; the sweep is the safety net
        _back_off()
        log.warning("%s %s: could not reach the broker (%s); the sweep will dispatch it",
                    task, object_id, type(exc).__name__)
        return False
    return True


def _back_off() -> None:
    """The broker failed: this process leaves it alone for BROKER_BACKOFF_SECONDS."""
    global _broker_down_until
    with _lock:
        _broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS


def queue_room(wanted: int, queue: str = TEXT_QUEUE) -> int:
    """How many of `wanted` messages the relay and the sweep may send now to `queue`: each queue is
    kept to at most DISPATCH_QUEUE_LIMIT waiting messages (so a full media queue never holds back
    text work). 0 while the broker is unreachable.

    Work owed but not yet sent waits in the database (the journal, the pipeline jobs), which is
    where it is safe. A message that waits in the queue behind thousands of others only costs
    the relay's and the broker's time while intake is busiest, and once it has waited past its
    deadline the sweep would send it again, though it was never lost.
    """
    if wanted <= 0 or time.monotonic() < _broker_down_until:
        return 0
    celery = current_app.extensions["celery"]
    try:
        waiting = _queue_depth(celery, queue)
    except Exception as exc:  # any broker failure: nothing goes out, the work stays owed
        _back_off()
        log.warning("could not read the queue's length from the broker (%s); nothing dispatched for now",
                    type(exc).__name__)
        return 0
    return max(0, min(wanted, int(current_app.config["DISPATCH_QUEUE_LIMIT"]) - waiting))


def _queue_depth(celery: Any, queue: str) -> int:
    """Messages waiting in `queue` (not those a worker has taken and not yet acknowledged)."""
    with celery.pool.acquire(block=True) as connection:
        connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0.5)
        try:
            declared = connection.default_channel.queue_declare(queue=queue, passive=True)
        except ChannelError:  # Redis has no key for an empty queue
            return 0
        return int(declared.message_count)


def broker_backoff_reset() -> None:
    """Forget a past broker failure (tests, and a process that knows the broker is back)."""
    global _broker_down_until
    with _lock:
        _broker_down_until = 0.0
