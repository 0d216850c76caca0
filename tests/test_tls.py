"""`intake serve --tls`: a self-signed certificate made once, served by gunicorn, its fingerprint printed."""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import signal
import socket
import ssl
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from intake import tls
from tests.conftest import ROOT, wait_for

FINGERPRINT_RE = re.compile(r"^\s+((?:[0-9A-F]{2}:){31}[0-9A-F]{2})$", re.MULTILINE)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def served_certificate(port: int) -> bytes | None:
    """The DER certificate the server on `port` presents (not verified: it is self-signed)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                context.wrap_socket(raw, server_hostname="localhost") as conn:
            return conn.getpeercert(binary_form=True)
    except OSError:
        return None


def test_certificate_is_made_once_for_this_machine(tmp_path: Path) -> None:
    """The key is 0600; the certificate names localhost, the loopback and every LAN address, serves
    servers only, and a second call keeps it (same fingerprint) rather than making another."""
    first = tls.ensure_certificate(tmp_path)
    assert first.created
    assert stat.S_IMODE(first.key_path.stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(first.cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert {str(a) for a in san.get_values_for_type(x509.IPAddress)} >= {"127.0.0.1", *map(str, tls.lan_addresses())}
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    der = cert.public_bytes(serialization.Encoding.DER)
    assert first.fingerprint == ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())
    again = tls.ensure_certificate(tmp_path)
    assert not again.created and again.fingerprint == first.fingerprint


@pytest.mark.worker
def test_serve_tls_prints_the_fingerprint_of_the_certificate_it_serves(tmp_path: Path) -> None:
    """`intake serve --tls` answers over HTTPS with the certificate whose SHA-256 it printed, and its
    cookies are Secure even on a loopback address (where plain `intake serve` turns that off)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    env.update(INTAKE_INSTANCE_PATH=str(tmp_path / "instance"), INTAKE_WORKER_HEARTBEAT_SECONDS="1",
               INTAKE_WEB_READ_TIMEOUT_SECONDS="2")
    intake = str(Path(sys.executable).parent / "intake")
    init = subprocess.run([intake, "init"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert init.returncode == 0, init.stderr
    port = free_port()
    log_path = tmp_path / "serve.log"
    log = open(log_path, "w")  # noqa: SIM115  (closed below)
    server = subprocess.Popen([intake, "serve", "--tls", "--host", "127.0.0.1", "--port", str(port)], env=env,
                              cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        der = wait_for(lambda: served_certificate(port), timeout=90)
        printed = log_path.read_text()
        found = FINGERPRINT_RE.search(printed)
        assert found, printed
        assert found.group(1) == ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())
        assert f"https://localhost:{port}/" in printed
        key = tmp_path / "instance" / tls.KEY_FILE
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        context = ssl.create_default_context(cafile=str(tmp_path / "instance" / tls.CERT_FILE))
        conn = http.client.HTTPSConnection("localhost", port, timeout=10, context=context)  # verified this time
        conn.request("GET", "/sign-in")
        response = conn.getresponse()
        response.read()
        assert response.status == 200
        cookies = response.headers.get_all("Set-Cookie") or []
        assert cookies and all("Secure" in c for c in cookies), cookies
        conn.close()
        # A client that stalls in the middle of its TLS handshake is let go after the read timeout
        # (gunicorn shakes hands in the request's thread; without a timeout it held it for ever).
        with socket.create_connection(("127.0.0.1", port), timeout=30) as stalled:
            stalled.sendall(b"\x16\x03\x01\x02\x00")  # the start of a ClientHello record, then nothing
            try:
                assert stalled.recv(1024) == b""
            except ConnectionResetError:
                pass
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        finally:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGKILL)
            log.close()
    assert server.returncode == 0, log_path.read_text()[-2000:]
