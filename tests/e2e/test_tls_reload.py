"""TLS (issue 6): SIGHUP makes the server read its certificate and key again — a renewed
certificate is served from the next handshake, connections already open carry on, and a
broken pair is refused with the old one kept."""
import hashlib
import imaplib
import signal
import socket
import ssl
import subprocess
import time

from conftest import PASSWORD, Server
from mailpeers import CTX, data_dir, wait_for


def served_cert(srv):
    host, port = srv.addrs["imaps"]
    with socket.create_connection((host, port), timeout=5) as sock:
        with CTX.wrap_socket(sock, server_hostname=host) as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3"), tls.version()
            return hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()


def pem_fingerprint(path):
    der = ssl.PEM_cert_to_DER_cert(path.read_text())
    return hashlib.sha256(der).hexdigest()


def test_sighup_reloads_the_certificate_without_dropping_connections(tmp_path):
    data = data_dir(tmp_path / "data", "alice@example.org")
    srv = Server(data)
    try:
        cert, key = data / "keys" / "tls-cert.pem", data / "keys" / "tls-key.pem"
        first = served_cert(srv)
        assert first == pem_fingerprint(cert)
        host, port = srv.addrs["imaps"]
        open_before = imaplib.IMAP4_SSL(host, port, ssl_context=CTX)
        open_before.login("alice@example.org", PASSWORD)

        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
                        "/CN=mail.example.org", "-keyout", str(key), "-out", str(cert)],
                       check=True, capture_output=True)
        renewed = pem_fingerprint(cert)
        assert renewed != first
        srv.proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: served_cert(srv) == renewed, timeout=10)
        assert open_before.noop()[0] == "OK" and open_before.select("INBOX")[0] == "OK"
        open_before.logout()

        # A broken pair is refused; the renewed one stays in service.
        cert.write_text("not a certificate")
        srv.proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: any("TLS reload failed" in l for l in srv.log), timeout=10)
        assert served_cert(srv) == renewed
    finally:
        srv.stop()
