"""Encrypted forms, the private side: making an organisation's key pair, and decrypting what Collect
encrypted for it, then filing it as a plain instance is filed. WORKERS ONLY (and the CLI, a process
of its own): no module of the web app imports this one, which `tests/test_odk_encrypted.py` checks,
so the web process never holds an organisation's private key, not even while making it.

ODK's encrypted-form format, as the ODK XForms specification's "Encryption" section, Collect's
`EncryptionUtils` and Briefcase's `CipherFactory` do it (docs/openrosa.md cites them):

- The AES-256 key of the submission is RSA-encrypted with "RSA/NONE/OAEPWithSHA256AndMGF1Padding"
  (Bouncy Castle's reading: SHA-256 for OAEP and for MGF1, which ODK Central's decoder also uses).
  Java's own provider reads the same name with MGF1 over SHA-1, and older clients used SHA-1 OAEP:
  both are tried after it (a wrong guess fails OAEP's own check, it never yields a wrong key).
- Each file is AES/CFB (128-bit feedback) with PKCS#7 padding. The IV seed is MD5(instanceID as
  UTF-8, then the key), 16 bytes; before each file, in manifest order (media, then the XML), the
  seed byte at (counter mod 16) is incremented and the counter too; the seed is the file's IV.
- The signature is the MD5 of: form ID, version (when there is one), the base64 encrypted key, the
  instance ID, then `name::md5hex` of each decrypted file (its name without `.enc`), every line
  ending in a newline; RSA-encrypted the same way as the key. It is checked before anything is filed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import logging
from collections.abc import Mapping
from typing import Any

# CFB is in cryptography's "decrepit" corner (kept for formats like this one that need it).
from cryptography.hazmat.decrepit.ciphers.modes import CFB
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import padding as asymmetric_padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import crypto
from ..models import DeviceToken, OdkEncryptedSubmission, OdkFormKey, Report, utcnow
from .encrypted import Manifest, manifest_aad, parse_manifest, part_aad, part_path
from .instance import parse
from .receive import receive_instance

log = logging.getLogger(__name__)

RSA_BITS = 2048
# Tried in this order; see the module's docstring.
_OAEP_VARIANTS = (
    (hashes.SHA256, hashes.SHA256),
    (hashes.SHA256, hashes.SHA1),
    (hashes.SHA1, hashes.SHA1),
)


class Undecryptable(ValueError):
    """An encrypted submission that does not open or does not match its signature (the message is
    ours, never the content): it is held, with its parts, for a coordinator."""


def make_form_key(session: Session, row: OdkFormKey) -> bool:
    """Make the key pair of a requested form key (idempotent: False when it is made already). The
    private key is wrapped by the master keys at once and never stored or logged otherwise."""
    if row.ready_at is not None:
        return False
    private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    der = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    keyring = crypto.active_keyring()
    row.private_key_wrapped = keyring.wrap(der)
    row.master_key_id = keyring.primary_id
    row.public_key = base64.b64encode(private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
    row.ready_at = utcnow()
    return True


def _private_key(row: OdkFormKey) -> rsa.RSAPrivateKey:
    """The form key's private key, unwrapped by the master keys: in a worker only."""
    if row.private_key_wrapped is None:
        raise Undecryptable("the form key has no private key")
    der = crypto.active_keyring().unwrap(row.private_key_wrapped)
    key = serialization.load_der_private_key(der, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise Undecryptable("the form key is not an RSA key")
    return key


def rsa_open(private: rsa.RSAPrivateKey, data: bytes) -> bytes:
    for algorithm, mgf in _OAEP_VARIANTS:
        try:
            return private.decrypt(data, asymmetric_padding.OAEP(mgf=asymmetric_padding.MGF1(mgf()),
                                                                   algorithm=algorithm(), label=None))
        except ValueError:
            continue
    raise Undecryptable("the submission's key does not open with the form's private key")


def iv_seed(instance_id: str, key: bytes) -> bytearray:
    return bytearray(hashlib.md5(instance_id.encode() + key).digest())  # noqa: S324 (ODK's format)


def next_iv(seed: bytearray, counter: int) -> bytes:
    """The IV of file number `counter` (0 for the first): the seed, its byte at counter mod 16 up by one."""
    seed[counter % len(seed)] = (seed[counter % len(seed)] + 1) % 256
    return bytes(seed)


def decrypt_file(key: bytes, iv: bytes, data: bytes) -> bytes:
    decryptor = Cipher(algorithms.AES(key), CFB(iv)).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise Undecryptable("a file of the submission does not decrypt (wrong key, or altered)") from None


def signature_source(manifest: Manifest, plain: Mapping[str, bytes]) -> bytes:
    lines = [manifest.form_id, *([manifest.version] if manifest.version else []),
             base64.b64encode(manifest.encrypted_key).decode(), manifest.instance_id]
    for name in manifest.files:
        original = name.removesuffix(".enc")
        lines.append(f"{original}::{hashlib.md5(plain[original]).hexdigest()}")  # noqa: S324 (ODK's format)
    return "".join(line + "\n" for line in lines).encode()


def open_submission(config: Mapping[str, Any], entry: OdkEncryptedSubmission) -> tuple[Manifest, dict[str, bytes]]:
    """The manifest and every decrypted file by its original name (`submission.xml` for the
    instance), the signature checked. Raises `Undecryptable`."""
    assert entry.data_key is not None and entry.manifest_sealed is not None
    data_key = entry.data_key.plain()
    manifest = parse_manifest(crypto.unseal(data_key, entry.manifest_sealed, manifest_aad(entry)))
    if manifest.signature is None:
        raise Undecryptable("the submission has no signature")  # Collect always sends one
    private = _private_key(entry.form_key)
    key = rsa_open(private, manifest.encrypted_key)
    if len(key) != 32:
        raise Undecryptable("the submission's key is not an AES-256 key")
    parts = {part.name: part for part in entry.parts}
    seed = iv_seed(manifest.instance_id, key)
    plain: dict[str, bytes] = {}
    for counter, name in enumerate(manifest.files):
        part = parts.get(name)
        if part is None or part.storage_name is None:
            raise Undecryptable("a part of the submission is missing")
        with open(part_path(config, part.storage_name), "rb") as handle:
            sealed = b"".join(crypto.open_sealed_file(handle, data_key, part_aad(part.storage_name)))
        if hashlib.sha256(sealed).hexdigest() != part.sha256:
            raise Undecryptable("a stored part does not match its hash")
        plain[name.removesuffix(".enc")] = decrypt_file(key, next_iv(seed, counter), sealed)
    expected = hashlib.md5(signature_source(manifest, plain)).digest()  # noqa: S324 (ODK's format)
    if not hmac.compare_digest(rsa_open(private, manifest.signature), expected):
        raise Undecryptable("the submission does not match its signature")
    return manifest, plain


def file_encrypted(session: Session, config: Mapping[str, Any], entry_id: int) -> Report | None:
    """Decrypt an encrypted submission and file it as a plain instance from the same phone is filed
    (`receive_instance`: the schema, the journal, files sniffed and sealed, the XML kept), with the
    receipt the phone was given. Idempotent: a submission filed already returns its report; one not
    complete returns None. The caller commits (the `.enc` parts then leave the disk) and runs the
    report's pipeline. Raises `Undecryptable`, or what `receive_instance` raises for its content."""
    entry = session.scalar(select(OdkEncryptedSubmission).where(OdkEncryptedSubmission.id == entry_id)
                           .with_for_update())
    if entry is None:
        return None
    if entry.report_id is not None:
        return session.get(Report, entry.report_id)
    if entry.due_at is None:
        return None
    manifest, plain = open_submission(config, entry)
    xml = plain.pop(manifest.xml_file.removesuffix(".enc"))
    parsed = parse(xml)
    if parsed.instance_id != manifest.instance_id:
        raise Undecryptable("the decrypted instance is not the one its manifest names")
    device = session.get(DeviceToken, entry.device_token_id) if entry.device_token_id is not None else None
    if device is None:
        raise Undecryptable("the submission's device is gone")
    received = receive_instance(session, config, device, xml, {name: io.BytesIO(data) for name, data in plain.items()},
                                reserved=(entry.public_id, entry.receipt_code))
    report = received.report
    entry.report_id = report.id
    entry.due_at = None
    entry.last_error = None
    discard_parts(session, config, entry)
    session.flush()
    return report


def discard_parts(session: Session, config: Mapping[str, Any], entry: OdkEncryptedSubmission) -> None:
    """The `.enc` parts and the manifest go, and their key with them: the report now holds the
    originals under its own key. Files leave the disk after commit (overwritten, then unlinked)."""
    for part in entry.parts:
        if part.storage_name is not None:
            session.info.setdefault("removed_upload_paths", []).append(str(part_path(config, part.storage_name)))
            part.storage_name = None
    entry.manifest_sealed = None
    if entry.data_key is not None and not entry.data_key.erased:
        entry.data_key.erase()


def note_failure(session: Session, entry_id: int, reason: str, *, hold: bool, retry_seconds: int) -> None:
    """A failed decryption: held for a coordinator (`hold`: it will not open, trying again changes
    nothing) or due again later. `reason` is ours or an exception's class name, never the content."""
    import datetime as dt

    entry = session.get(OdkEncryptedSubmission, entry_id)
    if entry is not None:
        entry.attempts += 1
        entry.last_error = reason[:200]
        entry.due_at = None if hold else utcnow() + dt.timedelta(seconds=retry_seconds)

