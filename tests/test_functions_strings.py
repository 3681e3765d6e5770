"""String, regex, JSON, URL and BYTES scalar functions, called through the registry."""

from __future__ import annotations

import base64
import re
from decimal import Decimal
from typing import Any

import pytest

import sqlengine.functions.bytes_funcs  # noqa: F401 - registers functions
import sqlengine.functions.json_funcs  # noqa: F401
import sqlengine.functions.regex  # noqa: F401
import sqlengine.functions.strings  # noqa: F401
import sqlengine.functions.urls  # noqa: F401
from sqlengine import types as T
from sqlengine.functions.registry import REGISTRY, FunctionError

S, N, B = T.STRING, T.INTEGER, T.BYTES
NULL = object()  # marks "the call raises" (the engine turns that into NULL + a log entry)


def call(name: str, types: list[Any], *args: Any) -> Any:
    fn = REGISTRY.scalar(name)
    assert fn is not None, name
    resolved = fn.resolve(types)
    if resolved.overload.null_propagating and any(a is None for a in args):
        return None
    try:
        return resolved.impl(*args)
    except Exception:
        return NULL


def b64(text: str) -> bytes:
    return base64.b64decode(text)


# ---------------------------------------------------------------------------- strings


@pytest.mark.parametrize(
    "name,types,args,expected",
    [
        ("CONCAT", [S, None, S], ("prefix-", None, "-postfix"), "prefix--postfix"),
        ("CONCAT", [S, S], ("to be or", None), "to be or"),
        ("CONCAT", [B, None, B], (b"yes", None, b"no"), b"yesno"),
        (
            "CONCAT_WS",
            [S, S, S, S, None, S],
            ("SEP", "foo", None, "baz", None, "l"),
            "fooSEPbazSEPl",
        ),
        ("CONCAT_WS", [S, S, S], (None, "foo", "bar"), None),
        ("CONCAT_WS", [S, S, S], ("SEP", None, None), ""),
        ("CONCAT_WS", [S], ("SEP",), NULL),
        ("CONCAT_WS", [B, B, B, B], (b"a", b"b", b"", b"no"), b"baano"),
        ("LCASE", [S], ("MiXeD",), "mixed"),
        ("UCASE", [S], (" \t with white space \t",), " \t WITH WHITE SPACE \t"),
        ("TRIM", [S], (" \t with white space \t",), "with white space"),
        ("LTRIM", [S], ("  a  ",), "a  "),
        ("RTRIM", [S], ("  a \x01",), "  a"),
        ("INITCAP", [S], ("the   Quick br0wn fOx",), "The   Quick Br0wn Fox"),
        ("INITCAP", [S], ("some_string",), "Some_string"),
        ("INITCAP", [S], ("  lead",), "Lead"),
        ("SUBSTRING", [S, N, N], ("some_string", 6, 3), "str"),
        ("SUBSTRING", [S, N, N], ("another", 6, 3), "er"),
        ("SUBSTRING", [S, N, N], ("short", 6, 3), ""),
        ("SUBSTRING", [S, N], ("some_string", 6), "string"),
        ("SUBSTRING", [S, N, N], ("some string", 0, 2), "so"),
        ("SUBSTRING", [S, N], ("abcdef", -2), "ef"),
        ("SUBSTRING", [S, N, N], ("a\U0001f600b", 2, 2), "\U0001f600"),
        ("SUBSTRING", [S, N], ("s", None), None),
        ("SUBSTRING", [B, N], (b"some_string", 6), b"string"),
        ("SUBSTRING", [B, N, N], (b"another", 6, 3), b"er"),
        ("REPLACE", [S, S, S], ("anaconda", "a", "o"), "onocondo"),
        ("REPLACE", [S, S, S], ("anaconda", None, "o"), None),
        ("LEN", [S], ("ABC",), 3),
        ("LEN", [S], ("\U0001f600",), 2),
        ("LEN", [B], (b"abc",), 3),
        ("LPAD", [S, N, S], ("foo", 7, "Bar"), "BarBfoo"),
        ("LPAD", [S, N, S], ("foo", 2, "Bar"), "fo"),
        ("LPAD", [S, N, S], ("foo", -1, "Bar"), None),
        ("LPAD", [S, N, S], ("foo", 7, ""), None),
        ("LPAD", [S, N, S], ("", 7, "Bar"), "BarBarB"),
        ("RPAD", [S, N, S], ("foo", 7, "Bar"), "fooBarB"),
        ("RPAD", [S, N, S], ("foo", 5, "Bar"), "fooBa"),
        ("LPAD", [B, N, B], (b"yes", 8, b"no"), b"nononyes"),
        ("LPAD", [B, N, B], (b"yes", 0, b"no"), b""),
        ("RPAD", [B, N, B], (b"yes", 8, b"no"), b"yesnonon"),
        ("RPAD", [B, N, B], (b"yes", 3, b""), None),
    ],
)
def test_string_functions(name: str, types: list[Any], args: tuple, expected: Any) -> None:
    assert call(name, types, *args) == expected


def test_lpad_bytes_wraps_padding() -> None:
    assert call("LPAD", [B, N, B], b"yes", 8, b"no") == b64("bm9ub255ZXM=")
    assert call("CONCAT_WS", [B, B, B, B], b"a", b"b", b"yes", b"no") == b64("YmF5ZXNhbm8=")


@pytest.mark.parametrize(
    "args,expected",
    [
        (("corporate floor", "or"), 2),
        (("should I stay or should I go", "or"), 15),
        (("no substring", "or"), 0),
        (("corporate floor", "or", 4), 5),
        (("short", "or", 4), 0),
        (("corporate floor", "or", 4, 2), 14),
        (("corporate floor", "or", -4, 2), 2),
        (("CORPORATE FLOOR", "OR", -3), 5),
        ((None, "or"), 0),
    ],
)
def test_instr(args: tuple, expected: int) -> None:
    assert call("INSTR", [S, S, N, N][: len(args)], *args) == expected


def test_split_and_split_to_map() -> None:
    assert call("SPLIT", [S, S], "..a..", ".") == ["", "", "a", "", ""]
    assert call("SPLIT", [S, S], "a.b", "") == ["a", ".", "b"]
    assert call("SPLIT", [S, S], "", "") == [""]
    assert call("SPLIT", [B, B], b".abc.", b".") == [b"", b"abc", b""]
    assert call("SPLIT", [B, B], b"ab", b"") == [b"a", b"b"]
    assert call("SPLIT", [B, B], b"", b"") == [b""]
    m = "apple:green/banana:yellow/cherry:red"
    assert call("SPLIT_TO_MAP", [S, S, S], m, "/", ":") == {
        "apple": "green",
        "banana": "yellow",
        "cherry": "red",
    }
    assert call("SPLIT_TO_MAP", [S, S, S], m, "&&", ":") == {"apple": "green/banana"}
    assert call("SPLIT_TO_MAP", [S, S, S], m, "/", "=") == {}
    assert call("SPLIT_TO_MAP", [S, S, S], m, "", ":") is None
    assert call("SPLIT_TO_MAP", [S, S, S], "a:1//a:2/", "/", ":") == {"a": "2"}


def test_elt_field() -> None:
    assert call("ELT", [N, S, S], 2, "ignored", "x") == "x"
    assert call("ELT", [N, S, S], 0, "a", "b") is None
    assert call("ELT", [N, S, S], None, "a", "b") is None
    assert call("FIELD", [S, S, S], "hello", "world", "hello") == 2
    assert call("FIELD", [S, S, S], None, None, "x") == 0
    assert call("FIELD", [S, S], "hello", None) == 0


def test_chr() -> None:
    assert call("CHR", [N], 75) == "K"
    assert call("CHR", [N], 22909) == "\u597d"
    assert call("CHR", [N], 99000) == "\U000182b8"
    assert call("CHR", [N], -1) is None
    assert call("CHR", [S], "\\u004b") == "K"
    assert call("CHR", [S], "\\ud820\\udeb8") == "\U000182b8"
    for text in ("75", "004b", "bogus", ""):
        assert call("CHR", [S], text) is None


def test_masks() -> None:
    assert call("MASK", [S], "My Test $123") == "Xx-Xxxx--nnn"
    assert call("MASK", [S, S, S, S, S], "My Test $123", "*", None, "1", None) == "*y *est $111"
    assert call("MASK_KEEP_LEFT", [S, N], "My Test $123", 4) == "My Txxx--nnn"
    assert call("MASK_KEEP_RIGHT", [S, N], "My Test $123", 4) == "Xx-Xxxx-$123"
    assert call("MASK_LEFT", [S, N], "My Test $123", 4) == "Xx-Xest $123"
    assert call("MASK_RIGHT", [S, N], "My Test $123", 4) == "My Test -nnn"
    assert call("MASK_RIGHT", [S, N], "Üb", 40) == "Xx"
    assert call("MASK_LEFT", [S, N], None, 2) is None
    assert call("MASK_LEFT", [S, N], "abc", -1) is NULL
    assert call("MASK", [S, S, S, S, S], "abc", "XY", None, None, None) is NULL


def test_uuid_and_md5() -> None:
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", call("UUID", [])
    )
    assert call("UUID", [B], bytes(range(16))) == "00010203-0405-0607-0809-0a0b0c0d0e0f"
    assert call("UUID", [B], b"short") is None
    assert call("MD5", [S], "abc") == "900150983cd24fb0d6963f7d28e17f72"


def test_overload_errors() -> None:
    with pytest.raises(FunctionError, match="Function 'substring' does not accept"):
        REGISTRY.scalar("SUBSTRING").resolve([N, N])
    with pytest.raises(FunctionError):
        REGISTRY.scalar("CONCAT").resolve([S, N])


def test_descriptions_and_categories() -> None:
    for name, category in [
        ("CONCAT", "STRING"),
        ("REGEXP_REPLACE", "REGEX"),
        ("URL_EXTRACT_HOST", "URL"),
    ]:
        info = REGISTRY.describe(name)
        assert info is not None and info.category == category and info.description


# ---------------------------------------------------------------------------- bytes and ENCODE


@pytest.mark.parametrize(
    "text,ascii_out,utf8_out,base64_out",
    [
        ("4578616d706C6521", "Example!", "Example!", "RXhhbXBsZSE="),
        ("c39c6265726d656e736368", "\ufffd\ufffdbermensch", "\u00dcbermensch", "w5xiZXJtZW5zY2g="),
        ("X'4578616d706C6521'", "Example!", "Example!", "RXhhbXBsZSE="),
        ("0x", "", "", ""),
        ("x''", "", "", ""),
        ("0x578616d706C6521", "\u0005xample!", "\u0005xample!", "BXhhbXBsZSE="),
        ("0x0x", NULL, NULL, NULL),
        ("X'", NULL, NULL, NULL),
        ("x'578616d706C6521'", NULL, NULL, NULL),
        ("578616d706C6521", NULL, NULL, NULL),
    ],
)
def test_encode_from_hex(text: str, ascii_out: Any, utf8_out: Any, base64_out: Any) -> None:
    assert call("ENCODE", [S, S, S], text, "hex", "ascii") == ascii_out
    assert call("ENCODE", [S, S, S], text, "hex", "utf8") == utf8_out
    assert call("ENCODE", [S, S, S], text, "hex", "base64") == base64_out


def test_encode_other() -> None:
    greek = "\u0395\u03bb\u03bb\u03ac\u03b4\u03b1"
    assert call("ENCODE", [S, S, S], greek, "ascii", "hex") == "3f3f3f3f3f3f"
    assert call("ENCODE", [S, S, S], "Example!", "ascii", "hex") == "4578616d706c6521"
    assert call("ENCODE", [S, S, S], "RXhhbXBsZSE", "base64", "utf8") == "Example!"
    assert call("ENCODE", [S, S, S], "RXhhbXBsZSE=", "base64", "null") is NULL
    assert call("ENCODE", [S, S, S], "abc", "utf8", "UTF8") is NULL


def test_to_and_from_bytes() -> None:
    assert call("FROM_BYTES", [B, S], b64("GrI="), "hex") == "1AB2"
    assert call("TO_BYTES", [S, S], "1aB2", "HEX") == b64("GrI=")
    assert call("TO_BYTES", [S, S], "abc", "hex") is NULL
    assert call("FROM_BYTES", [B, S], b"!", "ascii") == "!"
    assert call("FROM_BYTES", [B, S], b"\xff", "ascii") == "\ufffd"
    assert call("FROM_BYTES", [B, S], b"!", "base64") == "IQ=="
    assert call("TO_BYTES", [S, S], "IQ", "base64") == b"!"
    assert call("TO_BYTES", [S, S], "I Q==", "base64") is NULL
    assert call("TO_BYTES", [S, S], "\u00e9", "utf8") == b"\xc3\xa9"
    assert call("TO_BYTES", [S, S], "x", "latin1") is NULL


def test_numbers_from_bytes() -> None:
    assert call("INT_FROM_BYTES", [B, S], b64("5QcAAA=="), "LITTLE_ENDIAN") == 2021
    assert call("INT_FROM_BYTES", [B], b64("AAAH5Q==")) == 2021
    assert call("BIGINT_FROM_BYTES", [B, S], b64("APIFKgEAAAA="), "little_endian") == 5000000000
    assert call("DOUBLE_FROM_BYTES", [B, S], b64("gvXJm/2mgEA="), "LITTLE_ENDIAN") == 532.8738323
    assert call("DOUBLE_FROM_BYTES", [B], b64("QICm/ZvJ9YI=")) == 532.8738323
    assert call("INT_FROM_BYTES", [B], b"\x00") is NULL
    assert call("INT_FROM_BYTES", [B, S], b"\x00\x00\x00\x01", "MIDDLE") is NULL


# ---------------------------------------------------------------------------- regex


def test_regexp_extract() -> None:
    assert call("REGEXP_EXTRACT", [S, S], "test.", "some_test_string") == "test_"
    assert call("REGEXP_EXTRACT", [S, S], "test.", "anothertest") is None
    assert call("REGEXP_EXTRACT", [S, S, N], "(.*) (.*)", "steven zhang", 2) == "zhang"
    assert call("REGEXP_EXTRACT", [S, S, N], "(.*) (.*)", "x y", 3) is None
    assert call("REGEXP_EXTRACT", [S, S], "(unclosed", "x") is NULL
    assert call("REGEXP_EXTRACT", [S, S], ".*", "a\r\nb") == "a"
    assert call("REGEXP_EXTRACT", [S, S], "\\p{Lu}+", "abcÜBERx") == "ÜBER"
    assert call("REGEXP_EXTRACT", [S, S], "\\w+", "héllo") == "h"  # Java's \w is ASCII
    assert call("REGEXP_EXTRACT", [S, S], "a++b", "aaab") == "aaab"
    assert call("REGEXP_EXTRACT", [S, S], "\\Q.*\\E", "a.*b") == ".*"
    assert call("REGEXP_EXTRACT", [S, S], "(?<y>\\d+)-\\k<y>", "x20-20") == "20-20"
    assert call("REGEXP_EXTRACT", [S, S], "[a[0-9]]+", "xa1b") == "a1"


def test_regexp_extract_all() -> None:
    got = call("REGEXP_EXTRACT_ALL", [S, S], "test.", "some_test_string_testabab")
    assert got == ["test_", "testa"]
    assert call("REGEXP_EXTRACT_ALL", [S, S], "test.", "nothing") == []
    got = call("REGEXP_EXTRACT_ALL", [S, S, N], "(\\w+) (\\w*)", "apurva mehta agavra ", 2)
    assert got == ["mehta", ""]


def test_regexp_replace_and_split() -> None:
    assert call("REGEXP_REPLACE", [S, S, S], "baababaa", "(ab)+", "cat") == "bacataa"
    assert call("REGEXP_REPLACE", [S, S, S], "abc", "x*", "-") == "-a-b-c-"
    assert (
        call("REGEXP_REPLACE", [S, S, S], "John Smith", "(\\w+) (\\w+)", "$2, $1") == "Smith, John"
    )
    assert (
        call("REGEXP_REPLACE", [S, S, S], "2020-01", "(?<y>\\d+)-(?<m>\\d+)", "${m}/${y}")
        == "01/2020"
    )
    assert call("REGEXP_REPLACE", [S, S, S], "a", "a", "\\$") == "$"
    assert call("REGEXP_REPLACE", [S, S, S], "a", "a", "$2") is NULL
    split = "REGEXP_SPLIT_TO_ARRAY"
    assert call(split, [S, S], "aabcda", "(ab|cd)") == ["a", "", "a"]
    assert call(split, [S, S], "zxy", "(ab|cd)") == ["zxy"]
    assert call(split, [S, S], "abc", "") == ["a", "b", "c"]
    assert call(split, [S, S], "a1b", "\\d*") == ["a", "", "b"]  # Matcher.find semantics
    assert call(split, [S, S], "..a..", "\\.") == ["", "", "a", "", ""]


# ---------------------------------------------------------------------------- JSON


def test_extractjsonfield() -> None:
    doc = '{"name": "cdd", "version": "2", "@type": "VAL"}}'
    assert call("EXTRACTJSONFIELD", [S, S], doc, "$.name") == "cdd"
    assert call("EXTRACTJSONFIELD", [S, S], doc, "$.@type") == "VAL"
    arr = '{"array": [1.23450, {"a": null}, 1e5]}'
    assert call("EXTRACTJSONFIELD", [S, S], arr, "$.array[-1]") is None
    assert call("EXTRACTJSONFIELD", [S, S], arr, "$.array[0]") == "1.23450"
    assert call("EXTRACTJSONFIELD", [S, S], arr, "$.array[1].a") == "null"
    assert call("EXTRACTJSONFIELD", [S, S], arr, "$.array") == '[1.23450,{"a":null},1E+5]'
    assert call("EXTRACTJSONFIELD", [S, S], '{"a b": 1}', "$['a b']") == "1"
    assert call("EXTRACTJSONFIELD", [S, S], "", "$.a") is None
    assert call("EXTRACTJSONFIELD", [S, S], "{", "$.a") is NULL
    assert call("EXTRACTJSONFIELD", [S, S], "{}", "a") is NULL


def test_json_inspection() -> None:
    valid = [call("IS_JSON_STRING", [S], x) for x in ["1", "abc", "[1, 2, 3]", '"abc"', "", None]]
    assert valid == [True, False, True, True, False, False]
    lengths = [call("JSON_ARRAY_LENGTH", [S], x) for x in ['["a", "b"]', "[]", "", "{}", "abc"]]
    assert lengths == [2, 0, None, None, NULL]
    assert call("JSON_KEYS", [S], '{"Red": 3, "Green": 5}') == ["Red", "Green"]
    assert call("JSON_KEYS", [S], "[]") is None
    records = call("JSON_RECORDS", [S], '{"a": "abc", "b": { "c": "a" }, "d": 1, "e": null}')
    assert records == {"a": "abc", "b": '{"c":"a"}', "d": "1", "e": "null"}
    items = call("JSON_ITEMS", [S], '[{"type": "A", "n": 1.50}, 2]')
    assert items == ['{"type":"A","n":1.50}', "2"]
    assert call("JSON_ITEMS", [S], "{}") is NULL


@pytest.mark.parametrize(
    "args,expected",
    [
        (('{"a": 1}', '{"b": 2}'), '{"a":1,"b":2}'),
        (('{"a": {"5": 6}}', '{"a": {"3": 4}}'), '{"a":{"3":4}}'),
        (("[1, 2]", "[3, 4]"), "[1,2,3,4]"),
        (("null", "null"), "[null,null]"),
        (("[1, 2]", '{"a": 1}', "4"), '[1,2,{"a":1},4]'),
        (("[1, [2]]", "[[[3]], [[[4]]]]"), "[1,[2],[[3]],[[[4]]]]"),
        (("1", "2"), "[1,2]"),
        (("[1e2]", "[0.50]"), "[100,0.50]"),
        (("1", ""), None),
        (("abc", "[1]"), NULL),
    ],
)
def test_json_concat(args: tuple, expected: Any) -> None:
    assert call("JSON_CONCAT", [S] * len(args), *args) == expected


def test_json_array_contains() -> None:
    assert call("JSON_ARRAY_CONTAINS", [S, N], "[1, 2, 3]", 3) is True
    assert call("JSON_ARRAY_CONTAINS", [S, T.DOUBLE], "[1.5]", 1.5) is True
    assert call("JSON_ARRAY_CONTAINS", [S, N], "[1.0]", 1) is False
    assert call("JSON_ARRAY_CONTAINS", [S, S], '[["a"], "b"]', "a") is False
    assert call("JSON_ARRAY_CONTAINS", [S, N], "[1, null]", None) is True
    assert call("JSON_ARRAY_CONTAINS", [S, N], "abc", 1) is False


@pytest.mark.parametrize(
    "sql_type,value,expected",
    [
        (T.INTEGER, 1, "1"),
        (T.STRING, "abc", '"abc"'),
        (T.STRING, 'a"\\\n\x01é', '"a\\"\\\\\\n\\u0001é"'),
        (T.Decimal(6, 3), Decimal("123.456"), "123.456"),
        (T.BYTES, b"!", '"IQ=="'),
        (T.DATE, 1000, '"1972-09-27"'),
        (T.TIMESTAMP, 60220000000, '"1971-11-28T23:46:40.000"'),
        (T.TIME, 48300000, '"13:25"'),
        (T.TIME, 48301500, '"13:25:01.500"'),
        (T.DOUBLE, 15.3, "15.3"),
        (T.DOUBLE, 1e20, "1.0E20"),
        (T.DOUBLE, 100.0, "100.0"),
        (T.BOOLEAN, True, "true"),
        (T.Array(T.INTEGER), [1, None, 3], "[1,null,3]"),
        (T.Map(T.STRING, T.Array(T.INTEGER)), {"id": [1, 2], "a": None}, '{"a":null,"id":[1,2]}'),
        (
            T.Struct((T.Field("NAME", T.STRING), T.Field("ID", T.INTEGER))),
            {"NAME": "Alice", "ID": 1},
            '{"ID":1,"NAME":"Alice"}',
        ),
        (T.INTEGER, None, "null"),
        (None, None, "null"),
    ],
)
def test_to_json_string(sql_type: Any, value: Any, expected: str) -> None:
    assert call("TO_JSON_STRING", [sql_type], value) == expected


# ---------------------------------------------------------------------------- URLs


def test_url_extraction() -> None:
    url = "http://test@confluent.io:8080/nested/path?query&jobs"
    assert call("URL_EXTRACT_HOST", [S], url) == "confluent.io"
    assert call("URL_EXTRACT_PORT", [S], url) == 8080
    assert call("URL_EXTRACT_PORT", [S], "http://test@confluent.io") is None
    assert call("URL_EXTRACT_PATH", [S], url) == "/nested/path"
    assert call("URL_EXTRACT_PATH", [S], "http://www.test.com?query#fragment") == ""
    assert call("URL_EXTRACT_QUERY", [S], url) == "query&jobs"
    assert call("URL_EXTRACT_QUERY", [S], "http://x.io/path") is None
    assert call("URL_EXTRACT_QUERY", [S], "http://test.com?a=foo%20bar&b=baz") == "a=foo bar&b=baz"
    assert call("URL_EXTRACT_PROTOCOL", [S], "https://x.io") == "https"
    assert call("URL_EXTRACT_PROTOCOL", [S], "www.confluent.io") is None
    assert call("URL_EXTRACT_FRAGMENT", [S], "http://test.com#frag%20space") == "frag space"
    assert call("URL_EXTRACT_FRAGMENT", [S], "http://www.nofragment.com") is None
    assert call("URL_EXTRACT_HOST", [S], "http://bad host/") is NULL


def test_url_parameters_and_coding() -> None:
    url = "http://www.test.com/?one=a&two=url%20encoded&three"
    assert call("URL_EXTRACT_PARAMETER", [S, S], url, "one") == "a"
    assert call("URL_EXTRACT_PARAMETER", [S, S], url, "two") == "url encoded"
    assert call("URL_EXTRACT_PARAMETER", [S, S], url, "three") == ""
    assert call("URL_EXTRACT_PARAMETER", [S, S], url, "four") is None
    assert call("URL_ENCODE_PARAM", [S], "?foo $bar") == "%3Ffoo+%24bar"
    assert call("URL_ENCODE_PARAM", [S], "a~*é") == "a%7E*%C3%A9"
    assert call("URL_DECODE_PARAM", [S], "url%20encoded+x") == "url encoded x"
    assert call("URL_DECODE_PARAM", [S], "bad%2") is NULL
