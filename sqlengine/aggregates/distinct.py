"""COUNT_DISTINCT: ksqlDB's approximate distinct count, a HyperLogLog of 2^14 registers.

It reproduces the estimator ksqlDB uses (stream-lib's HyperLogLog with its 32-bit MurmurHash2
and linear counting for small cardinalities), so counts agree with ksqlDB's, exact for the
small groups typical of tests and approximate (about 1% error) for large ones. Values hash as
stream-lib hashes the Java objects ksqlDB passes: integers and doubles by their 64-bit form,
strings, booleans and decimals by their text. Values of other types (temporal, bytes,
collections) hash by their content, so distinct values still count as distinct.

The accumulator keeps only the non-zero registers (index -> rank), which stays small for
small groups and is plain picklable data.
"""

from __future__ import annotations

import decimal
import math
import struct
from typing import Any

from sqlengine import types as T
from sqlengine.aggregates.core import Aggregator, Call, UdafOverload, udaf

LOG2M = 14
M = 1 << LOG2M
_MASK = 0xFFFFFFFF
_MUL = 0x5BD1E995
ALPHA_MM = (0.7213 / (1 + 1.079 / M)) * M * M


def _signed_byte(b: int) -> int:
    return b - 256 if b > 127 else b


def murmur_bytes(data: bytes, seed: int = -1) -> int:
    """stream-lib's MurmurHash.hash(byte[]) as an unsigned 32-bit value."""
    length = len(data)
    h = (seed ^ length) & _MASK
    full = length & ~3
    for i in range(0, full, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * _MUL) & _MASK
        k ^= k >> 24
        k = (k * _MUL) & _MASK
        h = ((h * _MUL) & _MASK) ^ k
    left = length - full
    if left:
        # Java widens the trailing (signed) bytes before shifting.
        if left >= 3:
            h ^= (_signed_byte(data[length - 3]) << 16) & _MASK
        if left >= 2:
            h ^= (_signed_byte(data[length - 2]) << 8) & _MASK
        h ^= _signed_byte(data[length - 1]) & _MASK
        h = (h * _MUL) & _MASK
    h ^= h >> 13
    h = (h * _MUL) & _MASK
    return h ^ (h >> 15)


def murmur_long(data: int) -> int:
    """stream-lib's MurmurHash.hashLong as an unsigned 32-bit value."""
    k = ((data & _MASK) * _MUL) & _MASK
    k ^= k >> 24
    h = (k * _MUL) & _MASK
    k = (((data >> 32) & _MASK) * _MUL) & _MASK
    k ^= k >> 24
    h = ((h * _MUL) & _MASK) ^ ((k * _MUL) & _MASK)
    h ^= h >> 13
    h = (h * _MUL) & _MASK
    return h ^ (h >> 15)


def value_hash(v: Any) -> int:
    if isinstance(v, bool):
        return murmur_bytes(b"true" if v else b"false")
    if isinstance(v, int):
        return murmur_long(v)
    if isinstance(v, float):
        return murmur_long(struct.unpack("<q", struct.pack("<d", v))[0])
    if isinstance(v, str):
        return murmur_bytes(v.encode())
    if isinstance(v, decimal.Decimal):
        return murmur_bytes(str(v).encode())
    if isinstance(v, bytes):
        return murmur_bytes(v)
    return murmur_bytes(repr(v).encode())


def offer(registers: dict[int, int], hashed: int) -> None:
    j = hashed >> (32 - LOG2M)
    rest = ((hashed << LOG2M) & _MASK) | ((1 << (LOG2M - 1)) + 1)
    rank = 32 - rest.bit_length() + 1
    if registers.get(j, 0) < rank:
        registers[j] = rank


def cardinality(registers: dict[int, int]) -> int:
    zeros = M - len(registers)
    register_sum = zeros + sum(2.0**-r for r in registers.values())
    estimate = ALPHA_MM / register_sum
    if estimate <= 2.5 * M and zeros:
        return math.floor(M * math.log(M / zeros) + 0.5)  # Java's Math.round
    return math.floor(estimate + 0.5)


def _count_distinct(call: Call) -> Aggregator:
    def add(acc: dict[int, int], v: Any) -> dict[int, int]:
        if v is not None:
            offer(acc, value_hash(v))
        return acc

    def merge(a: dict[int, int], b: dict[int, int]) -> dict[int, int]:
        for j, r in b.items():
            if a.get(j, 0) < r:
                a[j] = r
        return a

    return Aggregator(T.BIGINT, dict, add, None, merge, cardinality, T.Array(T.INTEGER))


udaf(
    "COUNT_DISTINCT",
    "This function returns the number of items found in a group. The implementation is "
    "probabilistic with a typical accuracy (standard error) of less than 1%.",
    UdafOverload(["T"], [], "BIGINT", _count_distinct),
)
