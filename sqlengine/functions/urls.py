"""ksqlDB's URL functions: java.net.URI parsing and application/x-www-form-urlencoded coding.

A URL with characters java.net.URI rejects (spaces, '<', '"', a bad %-escape ...) raises, so the
call yields NULL like ksqlDB's URISyntaxException. Decoded components use UTF-8.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote_plus, unquote

from sqlengine.functions.registry import Overload, scalar

# RFC 2396 characters (plus non-ASCII "other" characters, which java.net.URI accepts).
_ILLEGAL = re.compile(r'[\x00-\x20"<>\\^`{|}\x7f]|%(?![0-9A-Fa-f]{2})')
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
_SERVER = re.compile(
    rf"(?:(?P<user>[^@\[\]]*)@)?(?P<host>\[[0-9A-Fa-f:.]+\]|{_LABEL}(?:\.{_LABEL})*\.?)"
    r"(?::(?P<port>[0-9]*))?"
)


@dataclass(frozen=True)
class _Uri:
    scheme: str | None
    host: str | None
    port: int | None
    raw_path: str | None
    raw_query: str | None
    raw_fragment: str | None


@lru_cache(maxsize=1024)
def _parse(url: str) -> _Uri:
    if _ILLEGAL.search(url):
        raise ValueError(f"URL input has invalid syntax: {url}")
    rest, hash_, fragment = url.partition("#")
    raw_fragment = fragment if hash_ else None
    m = _SCHEME.match(rest)
    scheme = m.group()[:-1] if m else None
    if m:
        rest = rest[m.end() :]
        if not rest:
            raise ValueError(f"Expected scheme-specific part: {url}")
        if not rest.startswith("/"):  # opaque URI such as mailto:a@b.c
            return _Uri(scheme, None, None, None, None, raw_fragment)
    elif not rest and not hash_:
        raise ValueError(f"URL input has invalid syntax: {url}")
    rest, question, query = rest.partition("?")
    raw_query = query if question else None
    host = port = None
    if rest.startswith("//"):
        end = len(rest)
        slash = rest.find("/", 2)
        if slash >= 0:
            end = slash
        authority, rest = rest[2:end], rest[end:]
        server = _SERVER.fullmatch(authority)
        if server:  # else a registry-based authority: no host, no port
            host = server.group("host")
            port = int(server.group("port")) if server.group("port") else None
    if any("[" in p or "]" in p for p in (rest, raw_query or "", raw_fragment or "")):
        raise ValueError(f"URL input has invalid syntax: {url}")  # brackets only for IPv6
    return _Uri(scheme, host, port, rest, raw_query, raw_fragment)


def _decoded(raw: str | None) -> str | None:
    return None if raw is None else unquote(raw, errors="replace")


def _host(url: str) -> str | None:
    return _parse(url).host


def _port(url: str) -> int | None:
    return _parse(url).port


def _protocol(url: str) -> str | None:
    return _parse(url).scheme


def _path(url: str) -> str | None:
    return _decoded(_parse(url).raw_path)


def _query(url: str) -> str | None:
    return _decoded(_parse(url).raw_query)


def _fragment(url: str) -> str | None:
    return _decoded(_parse(url).raw_fragment)


def _parameter(url: str, name: str) -> str | None:
    query = _query(url)
    if query is None:
        return None
    for param in query.split("&"):
        key, eq, value = param.partition("=")
        if key == name:
            return value if eq else ""
    return None


_HEX2 = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _decode_param(s: str) -> str:
    """java.net.URLDecoder.decode(s, UTF-8): '+' is a space, a bad %-escape fails."""
    if _HEX2.search(s):
        raise ValueError(f"URLDecoder: Illegal hex characters in escape (%) pattern: {s}")
    return unquote(s.replace("+", " "), errors="replace")


def _encode_param(s: str) -> str:
    """java.net.URLEncoder.encode(s, UTF-8): keeps letters, digits and . - * _ only."""
    return quote_plus(s, safe="*", errors="replace").replace("~", "%7E")


for _name, _impl, _returns, _desc in [
    ("URL_EXTRACT_HOST", _host, "STRING", "Extracts the host-name portion of a URL"),
    ("URL_EXTRACT_PORT", _port, "INT", "Extracts the port number of a URL"),
    ("URL_EXTRACT_PROTOCOL", _protocol, "STRING", "Extracts the protocol (scheme) of a URL"),
    ("URL_EXTRACT_PATH", _path, "STRING", "Extracts the decoded path of a URL"),
    ("URL_EXTRACT_QUERY", _query, "STRING", "Extracts the decoded query-string of a URL"),
    ("URL_EXTRACT_FRAGMENT", _fragment, "STRING", "Extracts the decoded fragment of a URL"),
    ("URL_DECODE_PARAM", _decode_param, "STRING", "Decodes an x-www-form-urlencoded value"),
    ("URL_ENCODE_PARAM", _encode_param, "STRING", "Encodes a value as x-www-form-urlencoded"),
]:
    scalar(_name, _desc, Overload(["STRING"], _returns, _impl, description=_desc), category="URL")

scalar(
    "URL_EXTRACT_PARAMETER",
    "Extracts the decoded value of a named parameter from the query-string of a URL",
    Overload(["STRING", "STRING"], "STRING", _parameter, description="url, parameter name"),
    category="URL",
)
