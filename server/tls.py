"""Where the server listens, and TLS, from the server config as ksqlDB names it:

    listeners=https://0.0.0.0:8443           # http:// or https://; --host/--port override
    ssl.certificate.location=/etc/streamdb/server.pem   # PEM: the certificate (chain)
    ssl.key.location=/etc/streamdb/server.key           # PEM: its private key
    ssl.key.password=...                                # if the key is encrypted
    ssl.ca.location=/etc/streamdb/clients-ca.pem        # PEM: require client certificates
    ssl.client.authentication=REQUIRED                  # or REQUESTED, NONE (default REQUIRED
                                                        # when ssl.ca.location is set)

(ksqlDB reads Java keystores; streamdb reads the PEM files they are made from.) Over TLS the
server speaks HTTP/2 (ALPN h2) and HTTP/1.1; without it, HTTP/1.1 and cleartext HTTP/2."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from hypercorn.config import Config

from server.startup import StartupError

LISTENERS = "listeners"
CERTIFICATE = "ssl.certificate.location"
KEY = "ssl.key.location"
KEY_PASSWORD = "ssl.key.password"
CA = "ssl.ca.location"
CLIENT_AUTHENTICATION = "ssl.client.authentication"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8088
_CLIENT_MODES = {
    "NONE": ssl.CERT_NONE,
    "REQUESTED": ssl.CERT_OPTIONAL,
    "REQUIRED": ssl.CERT_REQUIRED,
}


@dataclass(frozen=True)
class Tls:
    certificate: str
    key: str
    key_password: str | None
    ca: str | None
    client_mode: ssl.VerifyMode

    def apply(self, config: Config) -> None:
        config.certfile = self.certificate
        config.keyfile = self.key
        config.keyfile_password = self.key_password
        config.ca_certs = self.ca
        config.verify_mode = self.client_mode
        config.alpn_protocols = ["h2", "http/1.1"]


@dataclass(frozen=True)
class Listener:
    host: str
    port: int
    tls: Tls | None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"


def listener(config: dict[str, str], host: str | None, port: int | None) -> Listener:
    """The address and TLS settings: `listeners` (its first URL), then --host/--port."""
    scheme, listen_host, listen_port = "http", DEFAULT_HOST, DEFAULT_PORT
    first = config.get(LISTENERS, "").split(",")[0].strip()
    if first:
        parts = urlsplit(first)
        try:
            parsed_port = parts.port
        except ValueError:
            parsed_port = None
        if parts.scheme not in ("http", "https") or parsed_port is None:
            raise StartupError(
                f"{LISTENERS}={first}: expected http://HOST:PORT or https://HOST:PORT"
            )
        scheme, listen_host, listen_port = parts.scheme, parts.hostname or "", parsed_port
    tls = tls_settings(config) if scheme == "https" else None
    return Listener(host or listen_host or DEFAULT_HOST, port or listen_port, tls)


def tls_settings(config: dict[str, str]) -> Tls:
    """The https listener's files, each checked to be readable and valid before start-up."""
    missing = [name for name in (CERTIFICATE, KEY) if not config.get(name)]
    if missing:
        raise StartupError(f"an https:// listener needs {' and '.join(missing)} (PEM files)")
    for name in (CERTIFICATE, KEY, CA):
        path = config.get(name)
        if path and not Path(path).is_file():
            raise StartupError(f"{name}={path}: no such file")
    mode_name = config.get(CLIENT_AUTHENTICATION, "REQUIRED" if config.get(CA) else "NONE")
    mode = _CLIENT_MODES.get(mode_name.strip().upper())
    if mode is None:
        raise StartupError(
            f"{CLIENT_AUTHENTICATION}={mode_name}: expected NONE, REQUESTED or REQUIRED"
        )
    if mode != ssl.CERT_NONE and not config.get(CA):
        raise StartupError(f"{CLIENT_AUTHENTICATION}={mode_name} needs {CA} (the clients' CA)")
    tls = Tls(config[CERTIFICATE], config[KEY], config.get(KEY_PASSWORD), config.get(CA), mode)
    try:  # what hypercorn will do, here so that a bad file fails start-up in one line
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tls.certificate, tls.key, tls.key_password)
        if tls.ca:
            context.load_verify_locations(tls.ca)
    except (ssl.SSLError, OSError) as exc:
        raise StartupError(
            f"cannot load the TLS files ({CERTIFICATE}, {KEY}, {CA}): {exc}"
        ) from exc
    return tls
