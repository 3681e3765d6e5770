"""HTTP Basic authentication, configured as ksqlDB's:

    authentication.method=BASIC
    authentication.users.file=/etc/streamdb/users.properties
    authentication.roles=admin,developer      # optional: users need one of them (default *)
    authentication.skip.paths=/info,/healthcheck
    authentication.realm=KsqlServer-Props

The users file has the format of the JAAS PropertyFileLoginModule (Jetty's property user
store) that ksqlDB's docs use: `user: password[,role...]` per line, `#` comments, and the
password either plain or in Jetty's hashed forms `MD5:<hex md5>`, `CRYPT:<unix crypt>` or
obfuscated `OBF:...`. A request without valid credentials gets 401 in ksqlDB's error shape
with a `WWW-Authenticate` challenge; a user without an allowed role gets 403."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

import crypt_r
import orjson
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from server.startup import StartupError, read_lines

METHOD = "authentication.method"
USERS_FILE = "authentication.users.file"
ROLES = "authentication.roles"
SKIP_PATHS = "authentication.skip.paths"
REALM = "authentication.realm"
DEFAULT_REALM = "KsqlServer-Props"
UNAUTHORIZED_CODE = 40100
FORBIDDEN_CODE = 40300


@dataclass(frozen=True)
class User:
    name: str
    credential: str  # as written in the file: plain, MD5:, CRYPT: or OBF:
    roles: frozenset[str]

    def accepts(self, password: str) -> bool:
        stored = self.credential
        if stored.startswith("MD5:"):
            digest = hashlib.md5(password.encode()).hexdigest()
            return hmac.compare_digest(digest, stored[4:].lower())
        if stored.startswith("CRYPT:"):
            hashed = stored[6:]
            return hmac.compare_digest(crypt_r.crypt(password, hashed) or "", hashed)
        if stored.startswith("OBF:"):
            return hmac.compare_digest(password.encode(), deobfuscate(stored[4:]).encode())
        return hmac.compare_digest(password.encode(), stored.encode())


def deobfuscate(text: str) -> str:
    """Jetty's `OBF:` password obfuscation reversed (it is not encryption)."""
    out = bytearray()
    i = 0
    while i + 4 <= len(text):
        if text[i] == "U":  # a byte above 127, written as 'U' and 4 base-36 digits
            out.append((int(text[i + 1 : i + 5], 36) >> 8) & 0xFF)
            i += 5
        else:
            value = int(text[i : i + 4], 36)
            out.append(((value // 256 + value % 256 - 254) // 2) & 0xFF)
            i += 4
    return out.decode("utf-8", "replace")


def read_users(path: str) -> dict[str, User]:
    users: dict[str, User] = {}
    for number, line in read_lines(path, USERS_FILE):
        name, separator, rest = line.partition(":")
        if "=" in name or not separator:  # Java properties take `name=value` too
            name, separator, rest = line.partition("=")
        if not separator or not name.strip():
            raise StartupError(f"{path}: line {number}: expected `user: password[,role...]`")
        credential, *roles = (part.strip() for part in rest.split(","))
        users[name.strip()] = User(name.strip(), credential, frozenset(r for r in roles if r))
    return users


def _error(status: int, code: int, message: str, headers: list[tuple[bytes, bytes]]) -> dict:
    body = orjson.dumps({"@type": "generic_error", "error_code": code, "message": message})
    return {"status": status, "body": body, "headers": headers}


class BasicAuthentication:
    """ASGI middleware: every request but the skipped paths needs a known user and password."""

    def __init__(
        self,
        app: ASGIApp,
        users: dict[str, User],
        roles: frozenset[str],
        skip_paths: frozenset[str],
        realm: str,
    ) -> None:
        self.app = app
        self.users = users
        self.roles = roles
        self.skip_paths = skip_paths
        self.realm = realm
        # Checked credentials (hashes of the header), so a CRYPT: check runs once per client.
        self._verified: dict[bytes, User] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.skip_paths:
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"authorization", b"")
        user = self._user(header)
        if user is None:
            challenge = f'Basic realm="{self.realm}"'.encode()
            refusal = _error(
                401, UNAUTHORIZED_CODE, "Unauthorized", [(b"www-authenticate", challenge)]
            )
        elif "*" not in self.roles and not (user.roles & self.roles):
            refusal = _error(403, FORBIDDEN_CODE, "You are forbidden from using this cluster.", [])
        else:
            await self.app(scope, receive, send)
            return
        await _respond(send, refusal)

    def _user(self, header: bytes) -> User | None:
        key = hashlib.sha256(header).digest()
        known = self._verified.get(key)
        if known is not None:
            return known
        scheme, _, encoded = header.partition(b" ")
        if scheme.lower() != b"basic":
            return None
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        name, _, password = decoded.partition(":")
        user = self.users.get(name)
        if user is None or not user.accepts(password):
            return None
        if len(self._verified) > 10_000:  # bounded: a flood of distinct credentials
            self._verified.clear()
        self._verified[key] = user
        return user


async def _respond(send: Send, refusal: dict) -> None:
    headers = [(b"content-type", b"application/json"), *refusal["headers"]]
    headers.append((b"content-length", str(len(refusal["body"])).encode()))
    await send({"type": "http.response.start", "status": refusal["status"], "headers": headers})
    await send({"type": "http.response.body", "body": refusal["body"]})


def add_authentication(app: Starlette, config: dict[str, str]) -> None:
    """Put `app` behind Basic authentication if the config asks for it."""
    method = config.get(METHOD, "NONE").strip().upper()
    if method == "NONE":
        return
    if method != "BASIC":
        raise StartupError(f"{METHOD}={config[METHOD]}: streamdb supports NONE and BASIC")
    path = config.get(USERS_FILE)
    if not path:
        raise StartupError(f"{METHOD}=BASIC needs {USERS_FILE}=PATH (a file of user: password)")
    roles = frozenset(r.strip() for r in config.get(ROLES, "*").split(",") if r.strip())
    app.add_middleware(
        BasicAuthentication,
        users=read_users(path),
        roles=roles or frozenset("*"),
        skip_paths=frozenset(p.strip() for p in config.get(SKIP_PATHS, "").split(",") if p.strip()),
        realm=config.get(REALM, DEFAULT_REALM),
    )
