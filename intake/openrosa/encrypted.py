"""Encrypted forms, the web's side: switching an organisation's form to encrypted, and keeping what
Collect sends for it unopened (ODK's encrypted-form format, docs/openrosa.md "Encrypted forms").

Collect encrypts a finished instance on the phone for the public key its form carries and sends a
manifest as the XML part (`encrypted="yes"`: the RSA-encrypted AES key, the names of the encrypted
files, a signature, the instance ID) with `submission.xml.enc` and one `.enc` part per file. Here
they are stored as they came, sealed under a data key of their own and hashed; the receipt is
given now and becomes the report's. A worker holding the private key (`openrosa.decrypt`, never
imported by the web) opens and files them. Nothing in this module can read a private key: it only
ever reads `OdkFormKey.public_key`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import audit, crypto
from ..accounts import AccountError
from ..enums import AuditAction
from ..media import CHUNK, upload_dir
from ..models import (
    DataKey,
    DeviceToken,
    OdkEncryptedPart,
    OdkEncryptedSubmission,
    OdkFormKey,
    OdkInstance,
    User,
    utcnow,
)
from ..schema import SUBMISSION_ID_RE
from . import xform
from .instance import MAX_INSTANCE_BYTES, InstanceRefused
from .receive import InstanceConflict, TooManyReports

SUBMISSIONS_NS = "http://opendatakit.org/submissions"
# A file name as Collect writes it (a timestamp and an extension), plus `.enc`: no path, no oddities.
ENC_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,250}\.enc")
MAX_MEDIA_FILES = 100


@dataclass(frozen=True)
class Manifest:
    """What the manifest of an encrypted submission says (nothing of the report itself)."""

    form_id: str
    version: str
    instance_id: str
    encrypted_key: bytes
    xml_file: str
    media: list[str] = field(default_factory=list)
    signature: bytes | None = None

    @property
    def files(self) -> list[str]:
        """Every encrypted part, in the order Collect encrypted them (media, then the XML)."""
        return [*self.media, self.xml_file]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def is_encrypted(xml: bytes) -> bool:
    """Whether an XML part is an encrypted submission's manifest (its root says `encrypted="yes"`)."""
    try:
        root = SafeET.fromstring(xml[:MAX_INSTANCE_BYTES], forbid_dtd=True)
    except (SafeET.ParseError, DefusedXmlException, ValueError):
        return False
    return (root.get("encrypted") or "").strip().lower() == "yes"


def _b64(text: str | None, what: str) -> bytes:
    try:
        value = base64.b64decode((text or "").strip(), validate=True)
    except (binascii.Error, ValueError):
        value = b""
    if not value:
        raise InstanceRefused(f"The encrypted submission's {what} is missing or not base64.")
    return value


def parse_manifest(xml: bytes) -> Manifest:
    """The manifest's fields, checked; `InstanceRefused` says what is wrong."""
    if len(xml) > MAX_INSTANCE_BYTES:
        raise InstanceRefused("The submission's manifest is larger than any manifest can be.", status=413)
    try:
        root = SafeET.fromstring(xml, forbid_dtd=True)
    except (SafeET.ParseError, DefusedXmlException, ValueError):
        raise InstanceRefused("The submission's XML could not be read (not well-formed, or uses entities or a DTD).") \
            from None
    if root.get("id") != xform.FORM_ID:
        raise InstanceRefused("This server has no such form: download the form list again.", status=404)
    children: dict[str, list[Any]] = {}
    for child in root:
        children.setdefault(_local(child.tag), []).append(child)

    def text(name: str) -> str | None:
        found = children.get(name) or [None]
        element = found[0]
        return (element.text or "").strip() or None if element is not None else None

    meta = (children.get("meta") or [None])[0]
    instance_id = None
    if meta is not None:
        for child in meta:
            if _local(child.tag) == "instanceID":
                instance_id = (child.text or "").strip() or None
    if instance_id is None or not SUBMISSION_ID_RE.fullmatch(instance_id):
        raise InstanceRefused("The form has no usable meta/instanceID (8–64 letters, digits or . _ : -).")
    xml_file = text("encryptedXmlFile")
    if xml_file is None or not ENC_NAME_RE.fullmatch(xml_file):
        raise InstanceRefused("The encrypted submission names no usable encryptedXmlFile.")
    media = []
    for element in children.get("media", []):
        for file_element in element:
            name = (file_element.text or "").strip()
            if _local(file_element.tag) == "file" and name:
                if not ENC_NAME_RE.fullmatch(name) or name == xml_file or name in media:
                    raise InstanceRefused("The encrypted submission names a file that cannot be stored.")
                media.append(name)
    if len(media) > MAX_MEDIA_FILES:
        raise InstanceRefused("The encrypted submission names too many files.")
    signature = text("base64EncryptedElementSignature")
    return Manifest(form_id=xform.FORM_ID, version=root.get("version") or "", instance_id=instance_id,
                    encrypted_key=_b64(text("base64EncryptedKey"), "base64EncryptedKey"), xml_file=xml_file,
                    media=media, signature=_b64(signature, "signature") if signature is not None else None)


# ---- the organisation's key --------------------------------------------------------------------


def current_key(session: Session, organisation_id: int) -> OdkFormKey | None:
    """The key the organisation's form carries now: its newest ready one (None: the form is plain)."""
    return session.scalar(select(OdkFormKey).where(OdkFormKey.organisation_id == organisation_id,
                                                   OdkFormKey.ready_at.is_not(None))
                          .order_by(OdkFormKey.ready_at.desc(), OdkFormKey.id.desc()).limit(1))


def pending_key(session: Session, organisation_id: int) -> OdkFormKey | None:
    """A key asked for and not made yet (a worker makes it)."""
    return session.scalar(select(OdkFormKey).where(OdkFormKey.organisation_id == organisation_id,
                                                   OdkFormKey.ready_at.is_(None)).limit(1))


def key_for_version(session: Session, organisation_id: int, version: str) -> OdkFormKey | None:
    """The organisation's key an encrypted form of this version was made for (its `xform.key_mark`)."""
    for key in session.scalars(select(OdkFormKey).where(OdkFormKey.organisation_id == organisation_id,
                                                        OdkFormKey.ready_at.is_not(None))):
        if key.public_key and version.endswith(xform.key_mark(key.public_key)):
            return key
    return None


def request_encryption(session: Session, organisation_id: int, *, actor: User | None, via: str) -> OdkFormKey:
    """Ask for the organisation's form to be encrypted: a key row with no key yet, audited. The key
    pair is made by whoever holds the private side (`openrosa.decrypt.make_form_key`), never here."""
    if current_key(session, organisation_id) is not None:
        raise AccountError("The form is encrypted already.")
    if pending_key(session, organisation_id) is not None:
        raise AccountError("The form's key is being made: the form is encrypted in a moment.")
    row = OdkFormKey(organisation_id=organisation_id)
    session.add(row)
    session.flush()
    audit.record(AuditAction.ODK_FORM_ENCRYPTED, actor=actor, organisation_id=organisation_id,
                 target_type="odk_form_key", target_id=row.public_id, detail={"via": via}, session=session)
    return row


# ---- receiving ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedEncrypted:
    entry: OdkEncryptedSubmission
    created: bool
    complete: bool  # every part is in: a worker can decrypt it


def part_aad(storage_name: str) -> bytes:
    """Binds a stored `.enc` part to its row: parts cannot be swapped between rows unnoticed."""
    return f"intake:odk-enc:{storage_name}".encode()


def manifest_aad(entry: OdkEncryptedSubmission) -> bytes:
    return f"intake:odk-manifest:{entry.public_id}:{entry.reporter_id}".encode()


def part_path(config: Mapping[str, Any], storage_name: str) -> Any:
    return upload_dir(dict(config)) / storage_name[:2] / storage_name


def _store_part(session: Session, config: Mapping[str, Any], entry: OdkEncryptedSubmission, name: str,
                stream: IO[bytes], limit: int) -> None:
    """One `.enc` part, written sealed as it came (streamed, hashed, measured)."""
    assert entry.data_key is not None
    storage_name = secrets.token_hex(16)
    target = part_path(config, storage_name)
    target.parent.mkdir(exist_ok=True)
    partial = target.with_suffix(".part")
    digest = hashlib.sha256()
    size = 0
    try:
        with open(partial, "xb") as out:
            partial.chmod(0o600)
            sealer = crypto.SealedFileWriter(out, entry.data_key.plain(), part_aad(storage_name))
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise InstanceRefused(f"{name} is larger than a file may be.", status=413)
                digest.update(chunk)
                sealer.write(chunk)
            sealer.close()
        if size == 0 or size % 16:
            # AES-CFB with PKCS#7 padding always gives whole 16-byte blocks.
            raise InstanceRefused(f"{name} is not an encrypted file of this form.")
        partial.replace(target)
        session.info.setdefault("new_upload_paths", []).append(str(target))
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    session.add(OdkEncryptedPart(submission=entry, name=name, storage_name=storage_name, sha256=digest.hexdigest(),
                                 size=size))


def receive_encrypted(session: Session, config: Mapping[str, Any], device: DeviceToken, xml: bytes,
                      files: Mapping[str, IO[bytes]], count_report: Callable[[], int | None] = lambda: None,
                      ) -> ReceivedEncrypted:
    """Keep an encrypted submission (or the parts a later post of it adds), in the caller's transaction.

    Raises `InstanceRefused` (an unreadable manifest; 404 for a form this organisation does not
    have, as one encrypted for another organisation's key), `InstanceConflict` (the instance ID
    came before with another manifest, or as a plain instance) and `TooManyReports`; the caller
    rolls back on any of them, commits otherwise, and then has a complete one decrypted.
    """
    from ..reports import new_receipt_code

    manifest = parse_manifest(xml)
    reporter = device.user
    key = key_for_version(session, reporter.organisation_id, manifest.version)
    if key is None:
        raise InstanceRefused("This server has no such form: download the form list again.", status=404)
    sha256 = hashlib.sha256(xml).hexdigest()
    entry = session.scalar(select(OdkEncryptedSubmission).where(
        OdkEncryptedSubmission.reporter_id == reporter.id, OdkEncryptedSubmission.instance_id == manifest.instance_id))
    created = False
    if entry is None:
        if session.scalar(select(OdkInstance.id).where(OdkInstance.reporter_id == reporter.id,
                                                       OdkInstance.instance_id == manifest.instance_id)):
            raise InstanceConflict(manifest.instance_id)
        if (waits := count_report()) is not None:
            raise TooManyReports(waits)
        data_key = DataKey.create()
        entry = OdkEncryptedSubmission(
            receipt_code=new_receipt_code(), organisation_id=reporter.organisation_id, reporter_id=reporter.id,
            device_token_id=device.id, form_key=key, instance_id=manifest.instance_id,
            form_version=manifest.version[:64], manifest_sha256=sha256, data_key=data_key, received_at=utcnow())
        try:
            with session.begin_nested():
                session.add(entry)
                session.flush()
        except IntegrityError:
            # The same instance sent again while this one was stored (or a receipt code collided):
            # the caller's retry finds the row that got there first.
            raise InstanceInFlightEncrypted(manifest.instance_id) from None
        entry.manifest_sealed = crypto.seal(data_key.plain(), xml, manifest_aad(entry))
        created = True
    elif entry.manifest_sha256 != sha256:
        raise InstanceConflict(manifest.instance_id)
    have = {part.name for part in entry.parts}
    if entry.report_id is None:
        limit = int(config["MAX_FILE_BYTES"]) + 1024
        for name in manifest.files:
            stream = files.get(name)
            if stream is not None and name not in have:
                _store_part(session, config, entry, name, stream, limit)
                have.add(name)
    complete = entry.report_id is None and have >= set(manifest.files)
    if complete and entry.due_at is None:
        entry.due_at = utcnow()
    session.flush()
    return ReceivedEncrypted(entry, created=created, complete=complete)


class InstanceInFlightEncrypted(Exception):
    """Another request stored this encrypted instance meanwhile: try again in a new transaction."""
