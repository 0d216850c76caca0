"""Pack jobs: a coordinator asks, a worker builds, the coordinator downloads (all audited).

`request_pack` writes the job (and, for the restricted tier, the reason: sealed on the job, typed
into the audit log as security.md wants every reveal's reason) in the caller's transaction; the
view commits and then queues the job's id. `run_pack_job` is what the worker task calls: it loads
the job by id, returns at once when the job is done or failed, builds the bag in a private
temporary folder (memory-backed where the system has one: a restricted pack holds originals),
zips it, seals the zip with the job's data key into the pack folder, and marks the job done in the
same transaction as the build's audit entries. Progress is written on a connection of its own, so
the page shows it while the build's transaction is still open. A worker killed mid-build leaves
the job running with its attempt counted; the next delivery of the message builds it again.
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .. import crypto
from ..audit import record as audit_record
from ..enums import AuditAction, Role
from ..exports.policy import ExportBlocked
from ..models import DataKey, Organisation, PackJob, User, utcnow
from .build import PackError, PackSpec, PackTier, build_pack
from .selector import Selector

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3


def pack_dir(config: dict[str, Any]) -> Path:
    path = Path(config["PACK_PATH"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def _aad(job: PackJob) -> bytes:
    return f"intake:pack:{job.public_id}:{job.storage_name}".encode()


def spec_of(job: PackJob) -> PackSpec:
    return PackSpec(Selector.parse(job.selector_kind, job.selector_value, job.date_from, job.date_to),
                    PackTier(job.tier), job.reason)


def request_pack(session: Session, user: User, spec: PackSpec) -> PackJob:
    """A new job for the user's organisation (coordinators only; a restricted one needs its reason)."""
    if user.role != Role.COORDINATOR:
        raise PackError("only coordinators build packs")
    spec.check()
    job = PackJob(organisation_id=user.organisation_id, requested_by_id=user.id,
                  selector_kind=spec.selector.kind.value, selector_value=spec.selector.value,
                  date_from=spec.selector.date_from, date_to=spec.selector.date_to, tier=spec.tier.value,
                  data_key=DataKey.create())
    if spec.tier == PackTier.RESTRICTED:
        job.reason = (spec.reason or "").strip()
    session.add(job)
    session.flush()
    detail: dict[str, Any] = {"selector": spec.selector.kind.value, "tier": spec.tier.value}
    if spec.tier == PackTier.RESTRICTED:
        detail["reason"] = (spec.reason or "").strip()
    audit_record(AuditAction.PACK_REQUESTED.value, actor=user, organisation_id=user.organisation_id,
                 target_type="pack", target_id=job.public_id, detail=detail, session=session)
    return job


def organisation_job(session: Session, user: User, public_id: str) -> PackJob | None:
    """A job by public id, only within the user's organisation."""
    return session.scalar(select(PackJob).where(PackJob.public_id == public_id,
                                                PackJob.organisation_id == user.organisation_id))


def recent_jobs(session: Session, organisation_id: int, limit: int = 20) -> list[PackJob]:
    return list(session.scalars(select(PackJob).where(PackJob.organisation_id == organisation_id)
                                .order_by(PackJob.created_at.desc(), PackJob.id.desc()).limit(limit)))


def _progress_writer(engine: Any, job_id: int) -> Any:
    def write(percent: int, step: str) -> None:
        try:
            with engine.begin() as connection:
                connection.execute(update(PackJob).where(PackJob.id == job_id).values(progress=percent, step=step))
        except Exception as exc:  # progress is a courtesy: the build goes on without it
            log.warning("pack job %s: progress not written (%s)", job_id, type(exc).__name__)
    return write


def run_pack_job(session: Session, config: dict[str, Any], job_id: int, engine: Any) -> str:
    """Build job `job_id` (idempotent: a job done or failed is left alone). Answers its state."""
    job = session.get(PackJob, job_id)
    if job is None or job.state in ("done", "failed"):
        session.rollback()
        return job.state if job is not None else "missing"
    if job.attempts >= MAX_ATTEMPTS:
        job.state, job.error = "failed", "the build was started too many times without finishing"
        session.commit()
        return job.state
    job.state, job.attempts, job.started_at, job.progress, job.step = "running", job.attempts + 1, utcnow(), 1, "start"
    session.commit()
    organisation = session.get(Organisation, job.organisation_id)
    actor = session.get(User, job.requested_by_id)
    assert organisation is not None and actor is not None
    progress = _progress_writer(engine, job.id)
    try:
        spec = spec_of(job)
        with tempfile.TemporaryDirectory(prefix="intake-pack-", dir=_workdir()) as work:
            pack = build_pack(session, config, organisation, spec, Path(work), actor=actor, via="web",
                              built_at=utcnow(), progress=progress, job=job.public_id)
            assert pack.path is not None
            storage = secrets.token_hex(16)
            job.storage_name = storage
            target = pack_dir(config) / storage
            size = _seal_zip(pack.path, target, job)
        job = session.get(PackJob, job_id)  # type: ignore[assignment]
        assert job is not None
        job.state, job.progress, job.step, job.finished_at = "done", 100, "done", utcnow()
        job.bag_name, job.content_sha256, job.incidents, job.size = (pack.path.name, pack.content_sha256,
                                                                     len(pack.incidents), size)
        session.commit()
    except (PackError, ExportBlocked, ValueError) as exc:
        session.rollback()
        _fail(session, job_id, str(exc)[:300] if isinstance(exc, PackError) else
              "the public tier's k-anonymity check blocked the pack" if isinstance(exc, ExportBlocked) else
              "the pack's selector is not valid")
        return "failed"
    return "done"


def _fail(session: Session, job_id: int, why: str) -> None:
    job = session.get(PackJob, job_id)
    if job is None:
        return
    job.state, job.error, job.finished_at, job.step = "failed", why, utcnow(), "failed"
    audit_record(AuditAction.PACK_FAILED.value, actor=None, organisation_id=job.organisation_id, target_type="pack",
                 target_id=job.public_id, detail={"tier": job.tier}, session=session)
    session.commit()


def _workdir() -> str | None:
    from ..media import private_workdir

    return private_workdir()


def _seal_zip(bag: Path, target: Path, job: PackJob) -> int:
    """The bag zipped, sealed with the job's key, written to `target` (via a partial file)."""
    from .bag import zip_bag

    partial = target.with_name(target.name + ".partial")
    with tempfile.TemporaryFile(dir=_workdir()) as plain:
        zip_bag(bag, plain)
        plain.seek(0)
        with partial.open("wb") as out:
            writer = crypto.SealedFileWriter(out, job.data_key_for_sealing().plain(), _aad(job))
            while chunk := plain.read(1 << 16):
                writer.write(chunk)
            writer.close()
        size = plain.tell()
    os.replace(partial, target)
    return size


def read_pack(config: dict[str, Any], job: PackJob) -> Iterator[bytes]:
    """The zip's bytes, chunk by chunk, each checked as it is opened. The key and the file are
    taken now, so the chunks can be sent after the request's session has ended."""
    if job.storage_name is None:
        raise FileNotFoundError("no pack")
    key, aad = job.data_key_for_sealing().plain(), _aad(job)
    handle = (pack_dir(config) / job.storage_name).open("rb")

    def chunks() -> Iterator[bytes]:
        with handle:
            yield from crypto.open_sealed_file(handle, key, aad)

    return chunks()


def expire_packs(session: Session, config: dict[str, Any], now: Any = None) -> int:
    """Packs kept past PACK_KEEP_SECONDS go: the file overwritten and unlinked, the job's data key
    erased (a restricted pack holds originals, which must not outlive their reports' retention in a
    forgotten zip). The caller commits. Returns how many went."""
    import datetime as dt

    from ..media import overwrite_and_unlink

    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=int(config["PACK_KEEP_SECONDS"]))
    due = session.scalars(select(PackJob).where(PackJob.state == "done", PackJob.finished_at < cutoff)
                          .limit(200)).all()
    for job in due:
        if job.storage_name:
            overwrite_and_unlink(pack_dir(config) / job.storage_name)
        job.storage_name, job.state, job.step = None, "expired", "expired"
        job.sealed = None
        job.__dict__.pop("_sealed_state", None)
        job.data_key.erase()
    return len(due)


def audit_download(session: Session, job: PackJob, user: User) -> None:
    audit_record(AuditAction.PACK_DOWNLOADED.value, actor=user, organisation_id=job.organisation_id,
                 target_type="pack", target_id=job.public_id,
                 detail={"tier": job.tier, "content_sha256": job.content_sha256 or ""}, session=session)
