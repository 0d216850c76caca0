"""A client that talks to the server as ODK Collect does (design/openrosa.md, from Collect's own code).

Collect's wire behaviour, step by step: every request carries `X-OpenRosa-Version: 1.0` and a `Date`
header; the form list and the form are fetched by GET; before each send it asks `HEAD submission`
and reads `X-OpenRosa-Accept-Content-Length`; the send is a multipart POST to
`submission?deviceID=…` with exactly one `xml_submission_file` part and one part per file, named by
the file's name; a send larger than the server takes is split into several posts that each repeat
the XML, all but the last marked `*isIncomplete*` = `yes`. For an encrypted form (its
`<submission base64RsaPublicKey>`), the finished instance is encrypted on the phone the way
Collect's `EncryptionUtils` does it (ODK XForms specification, "Encryption"), and the XML part is
the manifest. Instances themselves are built by `tests.test_openrosa.instance_xml`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import secrets
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree as ET  # noqa: S405 (the test reads its own server's XML)

# CFB is in cryptography's "decrepit" corner (kept for formats like this one that need it).
from cryptography.hazmat.decrepit.ciphers.modes import CFB
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import padding as asymmetric_padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

XFORMS_LIST = "{http://openrosa.org/xforms/xformsList}"
XF = "{http://www.w3.org/2002/xforms}"
DEVICE_ID = "collect:Xa7bQ2rT9kLm"


@dataclass(frozen=True)
class FormEntry:
    form_id: str
    version: str
    hash: str
    download_url: str


class CollectClient:
    """ODK Collect against one server URL (`<base>/openrosa/<token>`), over Flask's test client."""

    def __init__(self, client: Any, server_url: str) -> None:
        self.client = client
        self.base = server_url.removeprefix("http://localhost")
        self.last: Any = None

    @staticmethod
    def headers() -> dict[str, str]:
        return {"X-OpenRosa-Version": "1.0",
                "Date": dt.datetime.now(dt.UTC).strftime("%a, %d %b %Y %H:%M:%S GMT"),
                "User-Agent": "org.odk.collect.android/v2024.3.1 okhttp/4.12", "Accept-Language": "en"}

    def form_list(self) -> list[FormEntry]:
        response = self.client.get(f"{self.base}/formList", headers=self.headers())
        self.last = response
        if response.status_code != 200:
            return []
        root = ET.fromstring(response.data)  # noqa: S314
        return [FormEntry(e.findtext(f"{XFORMS_LIST}formID") or "", e.findtext(f"{XFORMS_LIST}version") or "",
                          e.findtext(f"{XFORMS_LIST}hash") or "", e.findtext(f"{XFORMS_LIST}downloadUrl") or "")
                for e in root.findall(f"{XFORMS_LIST}xform")]

    def download(self, entry: FormEntry) -> str:
        response = self.client.get(entry.download_url.removeprefix("http://localhost"), headers=self.headers())
        self.last = response
        assert response.status_code == 200, response.status_code
        # Collect checks the hash the list announced against what it downloaded.
        assert entry.hash == "md5:" + hashlib.md5(response.data).hexdigest()  # noqa: S324
        return response.get_data(as_text=True)

    def preflight(self) -> int:
        """HEAD submission: the bytes one post may carry (10,000,000 when the server says nothing)."""
        response = self.client.head(f"{self.base}/submission", headers=self.headers())
        self.last = response
        assert response.status_code == 204, response.status_code
        return int(response.headers.get("X-OpenRosa-Accept-Content-Length", 10_000_000))

    def post(self, xml: bytes, files: dict[str, bytes], *, incomplete: bool = False) -> Any:
        from werkzeug.datastructures import FileStorage, MultiDict
        from werkzeug.test import encode_multipart

        fields: MultiDict[str, Any] = MultiDict(
            [("xml_submission_file", FileStorage(io.BytesIO(xml), "submission.xml", content_type="text/xml"))])
        for name, data in files.items():
            kind = "application/octet-stream" if name.endswith(".enc") else "image/jpeg"
            fields.add(name, FileStorage(io.BytesIO(data), name, content_type=kind))
        if incomplete:
            fields.add("*isIncomplete*", "yes")
        boundary, body = encode_multipart(fields)
        response = self.client.post(f"{self.base}/submission?deviceID={DEVICE_ID}", data=body,
                                    content_type=f"multipart/form-data; boundary={boundary}",
                                    headers=self.headers())
        self.last = response
        return response

    def send(self, xml: bytes, files: dict[str, bytes], *, posts: int = 1) -> list[Any]:
        """Send a finished form as Collect does: the preflight, then one post, or `posts` posts that
        share the files out, each with the XML, all but the last marked incomplete."""
        self.preflight()
        names = list(files)
        shares = [names[i::posts] for i in range(posts)] if names else [[] for _ in range(posts)]
        return [self.post(xml, {name: files[name] for name in share}, incomplete=index < posts - 1)
                for index, share in enumerate(shares)]


# ---- encryption as Collect does it ----------------------------------------------------------------

SUBMISSIONS_NS = "http://opendatakit.org/submissions"
ORX = "http://openrosa.org/xforms"


def form_public_key(form_xml: str) -> str | None:
    root = ET.fromstring(form_xml)  # noqa: S314
    submission = root.find(f".//{XF}model/{XF}submission")
    return submission.get("base64RsaPublicKey") if submission is not None else None


def _oaep(public: rsa.RSAPublicKey, data: bytes) -> bytes:
    # RSA/NONE/OAEPWithSHA256AndMGF1Padding on Android (Bouncy Castle): SHA-256 for both.
    return public.encrypt(data, asymmetric_padding.OAEP(mgf=asymmetric_padding.MGF1(hashes.SHA256()),
                                                        algorithm=hashes.SHA256(), label=None))


def encrypt_like_collect(form_xml: str, instance: bytes, media: dict[str, bytes]) -> tuple[bytes, dict[str, bytes]]:
    """The manifest and the `.enc` parts Collect sends for a finished instance of an encrypted form."""
    public_key = form_public_key(form_xml)
    assert public_key, "the form is not encrypted"
    public = serialization.load_der_public_key(base64.b64decode(public_key))
    assert isinstance(public, rsa.RSAPublicKey)
    root = ET.fromstring(form_xml)  # noqa: S314
    primary = next(i for i in root.iter(f"{XF}instance") if i.get("id") is None)[0]
    form_id, version = primary.get("id") or "", primary.get("version")
    instance_root = ET.fromstring(instance)  # noqa: S314
    instance_id = next(e.text for e in instance_root.iter() if e.tag.endswith("instanceID"))
    assert instance_id

    key = secrets.token_bytes(32)
    seed = bytearray(hashlib.md5(instance_id.encode() + key).digest())  # noqa: S324
    encrypted_key = base64.b64encode(_oaep(public, key)).decode()
    signature_lines = [form_id, *([version] if version else []), encrypted_key, instance_id]
    parts: dict[str, bytes] = {}
    for counter, (name, data) in enumerate([*media.items(), ("submission.xml", instance)]):
        seed[counter % 16] = (seed[counter % 16] + 1) % 256
        padder = padding.PKCS7(128).padder()
        padded = padder.update(data) + padder.finalize()
        encryptor = Cipher(algorithms.AES(key), CFB(bytes(seed))).encryptor()
        parts[f"{name}.enc"] = encryptor.update(padded) + encryptor.finalize()
        signature_lines.append(f"{name}::{hashlib.md5(data).hexdigest()}")  # noqa: S324
    digest = hashlib.md5("".join(line + "\n" for line in signature_lines).encode()).digest()  # noqa: S324
    signature = base64.b64encode(_oaep(public, digest)).decode()

    ET.register_namespace("", SUBMISSIONS_NS)
    data = ET.Element(f"{{{SUBMISSIONS_NS}}}data", {"id": form_id, "encrypted": "yes",
                                                     **({"version": version} if version else {})})
    ET.SubElement(data, f"{{{SUBMISSIONS_NS}}}base64EncryptedKey").text = encrypted_key
    meta = ET.SubElement(data, f"{{{ORX}}}meta")
    ET.SubElement(meta, f"{{{ORX}}}instanceID").text = instance_id
    for name in media:
        ET.SubElement(ET.SubElement(data, f"{{{SUBMISSIONS_NS}}}media"), f"{{{SUBMISSIONS_NS}}}file").text = \
            f"{name}.enc"
    ET.SubElement(data, f"{{{SUBMISSIONS_NS}}}encryptedXmlFile").text = "submission.xml.enc"
    ET.SubElement(data, f"{{{SUBMISSIONS_NS}}}base64EncryptedElementSignature").text = signature
    return ET.tostring(data, encoding="utf-8", xml_declaration=True), parts
