"""A self-signed certificate for `intake serve --tls`: a laptop in the field, phones on its network.

Phones reaching `http://laptop:5000` get no Secure cookie, no camera and no Service Worker: browsers
give those only to a secure context (HTTPS, or localhost). With no domain name and no Internet there
is no certificate authority to ask, so the laptop makes its own certificate, once, for its host
names and LAN addresses, and prints its SHA-256 fingerprint. Field staff accept the browser's
warning only after comparing the fingerprint it shows with the one printed on the laptop: that
comparison is what stands between them and someone on the same Wi-Fi posing as the laptop.

The key is an ECDSA P-256 key, written mode 0600 in the instance folder beside the other keys.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CERT_FILE = "tls-cert.pem"
KEY_FILE = "tls-key.pem"
VALID_DAYS = 397  # what browsers accept of a server certificate; made again when it runs out
RENEW_BEFORE = dt.timedelta(days=14)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Certificate:
    cert_path: Path
    key_path: Path
    fingerprint: str  # SHA-256 of the DER certificate, as browsers show it: AB:CD:…
    created: bool
    names: tuple[str, ...]
    addresses: tuple[IPAddress, ...]


def fingerprint(der: bytes) -> str:
    """The SHA-256 fingerprint of a DER certificate, colon-separated upper-case hex."""
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    return ":".join(f"{b:02X}" for b in digest.finalize())


def host_names() -> list[str]:
    """This machine's names: its host name (and `<name>.local`, which phones resolve by mDNS), its
    fully qualified name, and localhost."""
    names = []
    for name in (socket.gethostname(), socket.getfqdn()):
        name = name.strip().rstrip(".").lower()
        if name and name not in names and name != "localhost":
            names.append(name)
    short = names[0].split(".")[0] if names else ""
    if short and f"{short}.local" not in names:
        names.append(f"{short}.local")
    return [*names, "localhost"]


def lan_addresses() -> list[IPAddress]:
    """This machine's addresses other machines can reach it at (no loopback, no link-local): those
    its host name resolves to, and the one it would use for a route out (found with a UDP socket
    "connected" to a documentation address: no packet is sent)."""
    found: list[IPAddress] = []

    def add(raw: str) -> None:
        try:
            address = ipaddress.ip_address(raw.split("%")[0])
        except ValueError:
            return
        if not (address.is_loopback or address.is_link_local or address.is_unspecified) and address not in found:
            found.append(address)

    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            add(str(info[4][0]))
    except OSError:
        pass
    for family, probe in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as udp:
                udp.connect((probe, 9))
                add(str(udp.getsockname()[0]))
        except OSError:
            pass
    return found


def _covers(cert: x509.Certificate, names: list[str], addresses: list[IPAddress]) -> bool:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    return (set(names) <= set(san.get_values_for_type(x509.DNSName))
            and set(addresses) <= set(san.get_values_for_type(x509.IPAddress)))


def ensure_certificate(folder: Path, now: dt.datetime | None = None) -> Certificate:
    """The certificate in `folder`, made if there is none, if it runs out within two weeks, or if it
    does not name every current host name and LAN address (the laptop moved to another network)."""
    now = now or dt.datetime.now(dt.UTC)
    names = host_names()
    addresses = [*lan_addresses(), ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    cert_path, key_path = folder / CERT_FILE, folder / KEY_FILE
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if cert.not_valid_after_utc - RENEW_BEFORE > now and _covers(cert, names, addresses):
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            return Certificate(cert_path, key_path, fingerprint(cert.public_bytes(serialization.Encoding.DER)),
                               False, tuple(san.get_values_for_type(x509.DNSName)),
                               tuple(a for a in san.get_values_for_type(x509.IPAddress)
                                     if isinstance(a, ipaddress.IPv4Address | ipaddress.IPv6Address)))
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Intake on {names[0]}"[:64])])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName([*map(x509.DNSName, names), *map(x509.IPAddress, addresses)]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    _write_private(key_path, pem_key)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Certificate(cert_path, key_path, fingerprint(cert.public_bytes(serialization.Encoding.DER)), True,
                       tuple(names), tuple(addresses))


def _write_private(path: Path, data: bytes) -> None:
    """Write `data` to a file only its owner can read, replacing any older one at once."""
    partial = path.with_name(path.name + ".new")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(partial, path)


def url_host(address: IPAddress | str) -> str:
    """A host as it goes in a URL (IPv6 in brackets)."""
    return f"[{address}]" if isinstance(address, ipaddress.IPv6Address) else str(address)
