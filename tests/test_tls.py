"""TLS end to end: `listeners=https://...` with PEM files made here (a CA, the server's
certificate for 127.0.0.1, a client's), HTTPS and HTTP/2 over TLS with httpx, curl and the
REPL, client certificates required by `ssl.ca.location`, plain HTTP to the TLS port refused
cleanly, and a bad TLS setup failing start-up in one line."""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.live_server import STREAMDB, LiveServer, live_server, streamdb


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(
    folder: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> None:
    (folder / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / f"{stem}.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def make_certificates(folder: Path) -> Path:
    """ca.pem/key, server.pem/key (for 127.0.0.1) and client.pem/key, signed by the CA."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("streamdb test CA"))
        .issuer_name(_name("streamdb test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write(folder, "ca", ca, ca_key)
    for stem, names in (
        ("server", [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
        ("client", []),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(f"streamdb test {stem}"))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
        )
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        _write(folder, stem, builder.sign(ca_key, hashes.SHA256()), key)
    return folder


def tls_config(folder: Path, *, client_certificates: bool = False) -> Path:
    lines = [
        "listeners=https://127.0.0.1:0",
        f"ssl.certificate.location={folder / 'server.pem'}",
        f"ssl.key.location={folder / 'server.key'}",
    ]
    if client_certificates:
        lines.append(f"ssl.ca.location={folder / 'ca.pem'}")
    path = folder / ("mutual.properties" if client_certificates else "tls.properties")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_certificates(tmp_path_factory.mktemp("certificates"))


@pytest.fixture(scope="module")
def server(certificates: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    config = str(tls_config(certificates))
    ca = trusting(str(certificates / "ca.pem"))
    with live_server(
        tmp_path_factory.mktemp("tls") / "data", "--config", config, scheme="https", verify=ca
    ) as running:
        yield running


def test_https_and_http2_over_tls(server: LiveServer, certificates: Path) -> None:
    assert server.url.startswith("https://127.0.0.1:")
    ca = trusting(str(certificates / "ca.pem"))
    with httpx.Client(verify=ca) as http1:
        response = http1.get(f"{server.url}/info")
        assert response.http_version == "HTTP/1.1"
        assert response.json()["KsqlServerInfo"]["serverStatus"] == "RUNNING"
    with httpx.Client(verify=ca, http2=True, http1=False) as http2:
        response = http2.post(f"{server.url}/ksql", json={"ksql": "SHOW STREAMS;"})
        assert response.http_version == "HTTP/2"
        assert response.json()[0]["@type"] == "streams"


def test_an_unknown_certificate_authority_is_refused(server: LiveServer) -> None:
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{server.url}/info")


def test_curl_over_https_and_http2(server: LiveServer, certificates: Path) -> None:
    done = subprocess.run(
        ["curl", "-s", "--http2", "--cacert", str(certificates / "ca.pem")]
        + ["-w", " %{http_version}", f"{server.url}/info"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert '"serverStatus":"RUNNING"' in done.stdout and done.stdout.endswith(" 2")


def test_plain_http_to_the_tls_port_is_refused_cleanly(
    server: LiveServer, certificates: Path
) -> None:
    plain = server.url.replace("https://", "http://")
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{plain}/info", timeout=10)
    again = httpx.get(f"{server.url}/info", verify=trusting(str(certificates / "ca.pem")))
    assert again.status_code == 200  # the server serves on


def test_the_repl_over_https(server: LiveServer, certificates: Path) -> None:
    env = {**os.environ, "SSL_CERT_FILE": str(certificates / "ca.pem")}
    done = subprocess.run(
        [STREAMDB, "cli", server.url, "-e", "SHOW TOPICS;"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "Kafka Topic" in done.stdout


def test_the_repl_says_how_to_fix_a_tls_mismatch(server: LiveServer) -> None:
    """Without the CA trusted, or with http:// for a TLS port, the REPL names the fix."""
    untrusted = streamdb("cli", server.url, "-e", "SHOW TOPICS;")
    assert untrusted.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr
    assert "point SSL_CERT_FILE at the CA's PEM file" in untrusted.stderr
    plain = streamdb("cli", server.url.replace("https://", "http://"), "-e", "SHOW TOPICS;")
    assert plain.returncode == 1
    assert "a server that listens with TLS closes plain HTTP: is it https://?" in plain.stderr


def test_client_certificates_required_by_the_ca_location(
    certificates: Path, tmp_path: Path
) -> None:
    config = str(tls_config(certificates, client_certificates=True))
    ca = str(certificates / "ca.pem")
    client = (str(certificates / "client.pem"), str(certificates / "client.key"))
    with live_server(
        tmp_path / "data", "--config", config, scheme="https", verify=_with_client(ca, client)
    ) as running:
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{running.url}/info", verify=trusting(ca))
        response = httpx.get(f"{running.url}/info", verify=_with_client(ca, client))
        assert response.status_code == 200


def _with_client(ca: str, client: tuple[str, str]) -> ssl.SSLContext:
    context = trusting(ca)
    context.load_cert_chain(*client)
    return context


def trusting(ca: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca)


def test_a_bad_tls_setup_fails_start_up_in_one_line(certificates: Path, tmp_path: Path) -> None:
    config = tmp_path / "bad.properties"
    config.write_text(
        f"listeners=https://127.0.0.1:0\nssl.certificate.location={certificates / 'server.pem'}\n"
        f"ssl.key.location={certificates / 'client.key'}\n"
    )
    run = streamdb("server", "--data-dir", str(tmp_path / "data"), "--config", str(config))
    assert run.returncode == 2
    (line,) = run.stderr.strip().splitlines()
    assert "cannot load the TLS files" in line
