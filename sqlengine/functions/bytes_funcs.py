"""ksqlDB's BYTES conversion functions and ENCODE, with Java's codec semantics.

TO_BYTES / FROM_BYTES follow ksqlDB's BytesUtils (upper-case hex, strict standard Base64);
ENCODE follows commons-codec (lower-case hex, lenient Base64), as ksqlDB's ENCODE does.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from collections.abc import Callable
from typing import Any

from sqlengine.functions.registry import Overload, scalar

# ---------------------------------------------------------------------------- codecs


def base64_text(b: bytes) -> str:
    """Java's Base64.getEncoder(): standard alphabet, padded, no line breaks."""
    return base64.b64encode(b).decode("ascii")


def _strict_base64_bytes(s: str) -> bytes:
    """Java's Base64.getDecoder(): padding optional, anything else outside the alphabet fails."""
    if "=" not in s:
        if len(s) % 4 == 1:
            raise ValueError("Last unit does not have at least two bits of information.")
        s += "=" * (-len(s) % 4)
    return base64.b64decode(s, validate=True)


_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/]")


def _lenient_base64_bytes(s: str) -> bytes:
    """commons-codec Base64.decodeBase64: URL-safe letters accepted, junk skipped, '=' ends."""
    s = s.split("=", 1)[0].replace("-", "+").replace("_", "/")
    s = _NOT_BASE64.sub("", s)
    s = s[: len(s) - (len(s) % 4 == 1)]
    return base64.b64decode(s + "=" * (-len(s) % 4))


def _hex_bytes(s: str) -> bytes:
    if len(s) % 2:
        raise ValueError(f"hexBinary needs to be even-length: {s}")
    return binascii.unhexlify(s)


def _ascii_text(b: bytes) -> str:
    return b.decode("ascii", "replace")


def _utf8_text(b: bytes) -> str:
    return b.decode("utf-8", "replace")


def _ascii_bytes(s: str) -> bytes:
    return s.encode("ascii", "replace")


def _utf8_bytes(s: str) -> bytes:
    return s.encode("utf-8", "replace")


_TO_TEXT = {
    "hex": lambda b: b.hex().upper(),
    "utf8": _utf8_text,
    "ascii": _ascii_text,
    "base64": base64_text,
}
_FROM_TEXT = {
    "hex": _hex_bytes,
    "utf8": _utf8_bytes,
    "ascii": _ascii_bytes,
    "base64": _strict_base64_bytes,
}
_UNKNOWN = "Unknown encoding type '{}'. Supported formats are 'hex', 'utf8', 'ascii', and 'base64'."


def _codec(table: dict[str, Callable[[Any], Any]], encoding: str) -> Callable[[Any], Any]:
    fn = table.get(encoding.lower())
    if fn is None:
        raise ValueError(_UNKNOWN.format(encoding))
    return fn


def _from_bytes(b: bytes, encoding: str) -> str:
    return _codec(_TO_TEXT, encoding)(b)


def _to_bytes(s: str, encoding: str) -> bytes:
    return _codec(_FROM_TEXT, encoding)(s)


scalar(
    "FROM_BYTES",
    "Converts a BYTES value to STRING in the specified encoding (hex, utf8, ascii or base64)",
    Overload(["BYTES", "STRING"], "STRING", _from_bytes, description="bytes, encoding"),
    category="BYTES",
)
scalar(
    "TO_BYTES",
    "Converts a STRING value in the specified encoding (hex, utf8, ascii or base64) to BYTES",
    Overload(["STRING", "STRING"], "BYTES", _to_bytes, description="string, encoding"),
    category="BYTES",
)


# ---------------------------------------------------------------------------- ENCODE


def _hex_strip(s: str) -> str:
    """ksqlDB's Encode.hexStrip: drops a 0x prefix (padding odd digits) or X'...' quotes."""
    if s.startswith("0x"):
        return ("0" + s[2:]) if len(s) % 2 else s[2:]
    if len(s) >= 3 and s[0] in "xX" and s[1] == "'" and s[-1] == "'":
        return s[2:-1]
    return s


def _commons_hex_bytes(s: str) -> bytes:
    s = _hex_strip(s)
    if len(s) % 2:
        raise ValueError("Odd number of characters.")
    return binascii.unhexlify(s)


_ENCODE_IN = {
    "hex": _commons_hex_bytes,
    "utf8": _utf8_bytes,
    "ascii": _ascii_bytes,
    "base64": _lenient_base64_bytes,
}
_ENCODE_OUT = {
    "hex": bytes.hex,
    "utf8": _utf8_text,
    "ascii": _ascii_text,
    "base64": base64_text,
}


def _encode(s: str, input_encoding: str, output_encoding: str) -> str:
    src, dst = input_encoding.lower(), output_encoding.lower()
    if src == dst or src not in _ENCODE_IN or dst not in _ENCODE_OUT:
        raise ValueError("Supported input and output encodings are: hex, utf8, ascii and base64")
    return _ENCODE_OUT[dst](_ENCODE_IN[src](s))


scalar(
    "ENCODE",
    "Takes an input string s, which is encoded as input_encoding, and encodes it as "
    "output_encoding (hex, utf8, ascii or base64)",
    Overload(["STRING", "STRING", "STRING"], "STRING", _encode, description="s, in, out"),
    category="STRING",
)


# ---------------------------------------------------------------------------- numbers from bytes


def _byte_order(order: str | None) -> str:
    if order is not None:
        upper = order.upper()
        if upper == "BIG_ENDIAN":
            return ">"
        if upper == "LITTLE_ENDIAN":
            return "<"
    raise ValueError(
        f"Byte order must be BIG_ENDIAN or LITTLE_ENDIAN. Unknown byte order '{order}'."
    )


def _number_from_bytes(code: str) -> Callable[..., int | float]:
    size = struct.calcsize(code)

    def convert(b: bytes, order: str = "BIG_ENDIAN") -> int | float:
        prefix = _byte_order(order)
        if len(b) != size:
            raise ValueError(f"Number of bytes must be equal to {size}, but found {len(b)}")
        return struct.unpack(prefix + code, b)[0]

    return convert


_ORDER_DESC = "byteOrder is 'BIG_ENDIAN' (the default) or 'LITTLE_ENDIAN'"
for _name, _code, _type in [
    ("INT_FROM_BYTES", "i", "INT"),
    ("BIGINT_FROM_BYTES", "q", "BIGINT"),
    ("DOUBLE_FROM_BYTES", "d", "DOUBLE"),
]:
    _impl = _number_from_bytes(_code)
    _size = struct.calcsize(_code)
    scalar(
        _name,
        f"Converts a {_size}-byte BYTES value to {_type} according to the specified byte order",
        Overload(["BYTES"], _type, _impl, description="Big-endian bytes"),
        Overload(["BYTES", "STRING"], _type, _impl, description=_ORDER_DESC),
        category="BYTES",
    )
