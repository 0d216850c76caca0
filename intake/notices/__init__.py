"""Telling a reporter that a verifier's question waits for them — and nothing else.

A notice goes by e-mail (to the account's address, over SMTP) and/or to the instance's webhook,
for reporters who turned notices on (`User.notify_questions`). It carries no report content: not
the question, not the narrative, no name, no place, not even which report — only that a question
waits and the address of *My reports* on this instance. An e-mail inbox, a mail server on the way,
or a chat room a webhook posts into is outside what the organisation controls; a seized phone shows
at most "a question waits for you". The webhook says which account (its opaque public id) so a
receiver can route it; it never says who that is.

The worker sends it after the question's transaction has committed (workers/tasks.py,
`intake.notify_question`), retries a failed send, and notes `InfoRequest.notified_at` after
sending: a notice may (rarely, a worker killed between the two) go out twice, never with content.
Nothing here logs an address or a message: a failure is logged by its exception's type.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import smtplib
import ssl
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..enums import ReportState
from ..models import InfoRequest, Report, User, utcnow

SIGNATURE_HEADER = "X-Intake-Signature"
EVENT = "question.waiting"


class NoticeFailed(Exception):
    """A notice could not be sent; says only how (an exception type), never to whom or what."""


def email_configured(config: dict[str, Any]) -> bool:
    return bool(config.get("SMTP_HOST") and config.get("SMTP_FROM") and config.get("PUBLIC_URL"))


def webhook_configured(config: dict[str, Any]) -> bool:
    return bool(config.get("NOTIFY_WEBHOOK_URL") and config.get("NOTIFY_WEBHOOK_SECRET"))


def configured(config: dict[str, Any]) -> bool:
    """Whether this instance can send notices at all (else the opt-in is not offered)."""
    return email_configured(config) or webhook_configured(config)


def my_reports_url(config: dict[str, Any]) -> str:
    return str(config.get("PUBLIC_URL") or "").rstrip("/") + "/my-reports"


@dataclass(frozen=True)
class Due:
    """A notice owed: to whom (the reporter's account), by which channels."""

    request_id: int
    email: str | None
    user_public_id: str
    webhook: bool
    language: str | None = None  # the reporter's interface language, which the e-mail is written in


def notice_due(session: Session, config: dict[str, Any], request_id: int) -> Due | None:
    """The notice owed for question `request_id`, or None: already sent, answered, the report no
    longer waiting, the reporter not asking for notices or gone, or nothing configured."""
    request = session.get(InfoRequest, request_id)
    if request is None or request.notified_at is not None or request.answered_at is not None:
        return None
    report = request.report
    reporter = report.reporter
    if report.state != ReportState.NEEDS_INFO or not reporter.active or not reporter.notify_questions:
        return None
    email = reporter.email if email_configured(config) else None
    webhook = webhook_configured(config)
    if email is None and not webhook:
        return None
    return Due(request.id, email, reporter.public_id, webhook, reporter.language)


def owed(session: Session, config: dict[str, Any], now: dt.datetime | None = None, limit: int = 100) -> list[int]:
    """Questions whose notice is owed but was never sent: its message lost with the broker (a question
    asked while it was down), or its retries spent on a mail server that was away. Each one found is
    noted as queued again (the caller commits, then queues them), so that the next sweeps leave it
    alone for NOTICE_RESEND_SECONDS; after NOTICE_GIVE_UP_SECONDS the question only waits on *My
    reports*. Whether a notice is still due (consent, state, channels) is `notice_due`'s to say, when
    the task runs."""
    if not configured(config):
        return []
    now = now or utcnow()
    lost_before = now - dt.timedelta(seconds=float(config["NOTICE_LOST_AFTER_SECONDS"]))
    requeued_before = now - dt.timedelta(seconds=float(config["NOTICE_RESEND_SECONDS"]))
    given_up_before = now - dt.timedelta(seconds=float(config["NOTICE_GIVE_UP_SECONDS"]))
    rows = session.scalars(
        select(InfoRequest)
        .join(Report, Report.id == InfoRequest.report_id)
        .join(User, User.id == Report.reporter_id)
        .where(InfoRequest.notified_at.is_(None), InfoRequest.answered_at.is_(None),
               InfoRequest.asked_at < lost_before, InfoRequest.asked_at > given_up_before,
               or_(InfoRequest.notice_requeued_at.is_(None), InfoRequest.notice_requeued_at < requeued_before),
               Report.state == ReportState.NEEDS_INFO, User.notify_questions.is_(True), User.active.is_(True))
        .order_by(InfoRequest.asked_at)
        .limit(limit)
    ).all()
    for row in rows:
        row.notice_requeued_at = now
    return [row.id for row in rows]


def mark_sent(session: Session, request_id: int, now: dt.datetime | None = None) -> None:
    request = session.get(InfoRequest, request_id)
    if request is not None:
        request.notified_at = now or utcnow()


def email_message(config: dict[str, Any], to: str, language: str | None = None) -> EmailMessage:
    """The e-mail, in the reporter's language: that a question waits, and where to answer it.
    Nothing of the report."""
    message = EmailMessage()
    message["From"] = config["SMTP_FROM"]
    message["To"] = to
    with force_locale(language or config.get("BABEL_DEFAULT_LOCALE") or "en"):
        message["Subject"] = _("A question waits for you")
        message.set_content("\n\n".join((
            _("A verifier has a question for you about one of your reports."),
            _("Sign in to read and answer it: %(address)s", address=my_reports_url(config)),
            _("This message says nothing more on purpose. If you did not expect it, tell your coordinator."),
        )) + "\n")
    return message


def send_email(config: dict[str, Any], to: str, language: str | None = None) -> None:
    """Send the e-mail over SMTP (STARTTLS, implicit TLS, or plain to a local relay)."""
    security = str(config.get("SMTP_SECURITY") or "starttls").lower()
    host, port, timeout = config["SMTP_HOST"], int(config["SMTP_PORT"]), float(config["SMTP_TIMEOUT_SECONDS"])
    context = ssl.create_default_context()
    try:
        smtp: smtplib.SMTP
        if security == "tls":
            smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
        with smtp:
            if security == "starttls":
                smtp.starttls(context=context)
            if config.get("SMTP_USERNAME"):
                smtp.login(config["SMTP_USERNAME"], config.get("SMTP_PASSWORD") or "")
            smtp.send_message(email_message(config, to, language))
    except (OSError, smtplib.SMTPException) as exc:
        # smtplib's errors can quote the recipient's address: only the type goes on.
        raise NoticeFailed(type(exc).__name__) from None


def webhook_body(config: dict[str, Any], user_public_id: str, now: dt.datetime | None = None) -> bytes:
    return json.dumps({"event": EVENT, "user": user_public_id, "url": my_reports_url(config),
                       "sent_at": (now or utcnow()).isoformat(timespec="seconds")},
                      separators=(",", ":"), sort_keys=True).encode()


def signature(secret: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of the body under the webhook secret>`, as the header carries it."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send_webhook(config: dict[str, Any], user_public_id: str) -> None:
    """POST the event as JSON, signed (SIGNATURE_HEADER); any answer but 2xx is a failure."""
    body = webhook_body(config, user_public_id)
    url = str(config["NOTIFY_WEBHOOK_URL"])
    if not url.startswith(("https://", "http://")):
        raise NoticeFailed("UnsupportedScheme")
    request = urllib.request.Request(url, data=body, method="POST", headers={  # noqa: S310  (scheme checked)
        "Content-Type": "application/json", SIGNATURE_HEADER: signature(config["NOTIFY_WEBHOOK_SECRET"], body)})
    try:
        with urllib.request.urlopen(request, timeout=float(config["SMTP_TIMEOUT_SECONDS"])) as answer:  # noqa: S310
            if not 200 <= answer.status < 300:
                raise NoticeFailed(f"HTTP {answer.status}")
    except OSError as exc:  # URLError and HTTPError are OSErrors
        raise NoticeFailed(type(exc).__name__) from None
