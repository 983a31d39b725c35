"""Fingerprints: golden vectors, layout invariance, bitwise sensitivity, chunks, errors."""

from __future__ import annotations

import math
import multiprocessing
import os
import pickle
import struct
import subprocess
import sys

import numpy as np
import pytest
from blake3 import blake3
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from seedreg.errors import SeedregError, UnsupportedTypeError
from seedreg.fingerprints import encoding as fpmod
from seedreg.fingerprints.digest import (
    ENCODING_VERSION,
    Fingerprint,
    chunk_elems_for,
    chunk_range,
    first_differing_chunk,
)
from seedreg.fingerprints.encoding import fingerprint

KIB, MIB = 1024, 1024 * 1024
SETTINGS = settings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# -- golden vectors ---------------------------------------------------------------------
# These digests pin ENCODING_VERSION 1 and must NEVER change. A change here means the
# encoding changed: bump ENCODING_VERSION instead, and keep version-1 digests reproducible.

def _golden_inputs() -> dict[str, object]:
    raw_void = np.frombuffer(b"abcdefgh", dtype="V4")
    return {
        "f8 arange 2M (123 chunks)": np.arange(2_000_000, dtype=np.float64),
        "i4 2x3": np.arange(6, dtype=np.int32).reshape(2, 3),
        "u1 0..255": np.arange(256, dtype=np.uint8),
        "i2 negative": np.array([-1, -32768, 32767], dtype=np.int16),
        "u8 max": np.array([0, 2**64 - 1], dtype=np.uint64),
        "b1": np.array([True, False, True]),
        "f2": np.array([0.5, -0.0, np.inf], dtype=np.float16),
        "f4 2x2": np.array([[1.5, -2.25], [np.nan, 0.0]], dtype=np.float32),
        "c16": np.array([1 + 2j, -0.0 - 1j]),
        "c8": np.array([1 + 2j], dtype=np.complex64),
        "U": np.array(["a", "héllo", ""]),
        "S": np.array([b"ab", b"", b"\x00\xff"]),
        "M8[s]": np.array(["2020-01-01T00:00:00", "NaT"], dtype="M8[s]"),
        "m8[ms]": np.array([1, -2], dtype="m8[ms]"),
        "V4": raw_void,
        "empty f8 (0, 3)": np.zeros((0, 3)),
        "empty i8 (0,)": np.zeros(0, dtype=np.int64),
        "0-d f8 1.5": np.array(1.5),
        "object str/bytes/None": np.array(["a", None, b"b", "é"], dtype=object),
        "StringDType": np.array(["a", "bc"], dtype=np.dtypes.StringDType()),
        "f8 200k strided 3x (not contiguous)": np.arange(600_000, dtype=np.float64)[::3],
        "None": None,
        "True": True,
        "False": False,
        "int 0": 0,
        "int 1": 1,
        "int -1": -1,
        "int 2**100": 2**100,
        "int -(2**70)": -(2**70),
        "float 1.0": 1.0,
        "float -0.0": -0.0,
        "float nan": float("nan"),
        "complex": 1 + 2j,
        "str empty": "",
        "str héllo": "héllo",
        "bytes": b"\x00\xff",
        "list empty": [],
        "list mixed": [1, "a", 2.5, None, b"x", [True, (1,)]],
        "dict nested": {"b": 1, "a": [None, 2.5], "c": {"x": "y"}},
        "dict with arrays": {"x": np.arange(3), "y": [np.float32(1), np.str_("s")]},
    }


GOLDEN: dict[str, str] = {
    'f8 arange 2M (123 chunks)':
        'blake3:5223f28be09e223b72d9f2e19a3145c82fe402b7a8dbbad0dce1130775979f8f',
    'i4 2x3': 'blake3:181e58410dd3f5dcb41329c25f83b061b884d89c06a95c9047f808b6d4caf69a',
    'u1 0..255': 'blake3:f45ab94efbe6f24612e6b3020140699d56a5118d53b4aa82cf2e2f5533e5024c',
    'i2 negative': 'blake3:0056e2e0eb0ba05fc70afb234bcfe3124fd25d8f8dfe310eb49b2551ffd83fbe',
    'u8 max': 'blake3:0a369bbf3ed545ad93158d36153c8195d5f09c049de3b5977fd22390fb7cf9e4',
    'b1': 'blake3:0ceeaf9be487596ce72ee715dee63740d5e002492716aaf3d41d823dbca80fcc',
    'f2': 'blake3:ffa5c774c9f28f238c24e35a153f97ad5cfb313d8c0515d78a1e5057a68bf1bc',
    'f4 2x2': 'blake3:94805189f32e7fba29fa2d29d4183f30b7cb4b329ce75feb2a11eac856dd6cb7',
    'c16': 'blake3:7a58f4df704c3b747a77a0c0518ef8d8114980a5560f37f1a648976e495b04b9',
    'c8': 'blake3:d61a696668d7978800ffedf8b364cfe715c13cd388252de948a9e127df687aa2',
    'U': 'blake3:4d9dbcf11b6b193926208723c85debd4c6cb5014a376d198c58010efe1ac7cef',
    'S': 'blake3:9042dd4a1e2232b8371e1ad7d7188eb3ae2dcd14f171735aa6db8cf617a6db29',
    'M8[s]': 'blake3:9019ea0af4ba36c801d3855aa40629d58c6d84c58072e38d5df6a604ff42f7f3',
    'm8[ms]': 'blake3:a1bb2f9f62bbea37c658808b3e8dc2cf34449cd96f0410d900be66fce61e13d5',
    'V4': 'blake3:4a7d4971eacdab01db3cf365cb67a4588a76d8a77915369a348c23b38f85276f',
    'empty f8 (0, 3)': 'blake3:f4eccfa686a5283ba0419a44854e0f0c726bf9647b85ac5df252b434e6e5c828',
    'empty i8 (0,)': 'blake3:d5349a4900860024c81ec58b152db140c28a6b43899af9fa446045691c34ada2',
    '0-d f8 1.5': 'blake3:d7935198778d7371ba8eb5fff9495d972a884534a20c8d78ddf5cb96543d896c',
    'object str/bytes/None':
        'blake3:c7bb0f216fde65ec091d9c24dc7a5e36279b164ac3a585035adabe5b35eaf5ea',
    'StringDType': 'blake3:748b540e0a73fc08cd12f300394c096d2add7f6e30cf8e9b7b6698133ee51b71',
    'f8 200k strided 3x (not contiguous)':
        'blake3:dd8cde2929cd27c4eb1837f5248896be686c01662bd928017431db7b99c3a45b',
    'None': 'blake3:4640f8945bba495487840b21560187de70aa1275e179506a426a263d616bb1e6',
    'True': 'blake3:40b7ca7dae507e2efd28f609e6a2f10136a79403d23413e2a178d133163f779b',
    'False': 'blake3:0270d7c7a4caaf391f61b07b4e7dcf69cea916eb89ac933f85aaa5efafb440d4',
    'int 0': 'blake3:b720113b2c1d770f024c60998c79c7757fcdacc3b240b461d054839009652675',
    'int 1': 'blake3:1d867b40ba9e15bf12f1068e4299b0a3fb9a969e529c279dd1e79e208fef3b3b',
    'int -1': 'blake3:6863699354a83c1c7d553e7b6606bd09761e9adbb176f0976912b5965128c6f7',
    'int 2**100': 'blake3:70a68da85fdced850d808ba6013dc338d416997945b68f07f94b335d1e8fbe96',
    'int -(2**70)': 'blake3:5a5666c0b81a2945882f134f611b9a89fb2d4055e1394ca97416720a90332879',
    'float 1.0': 'blake3:c8d822900054a0c1b561070588274b15b9001c03ee7346deba7b9fe841fb6f1f',
    'float -0.0': 'blake3:9c9b82c50ab99c33ac0129076729ec1b55351c51e9fae00b1a0bcd857198898d',
    'float nan': 'blake3:5db1e2292656f290e7a4056619bec677ec25594181429365d07d37caf7c98d2f',
    'complex': 'blake3:ee67e431dae6dd561df79621d59b484f286adb5ceb87ba98974c47f384ac98db',
    'str empty': 'blake3:f98a4f2372d0fc916a54ec90a176c54f7a8aa3e1fc5314957987ef9a7b4db22c',
    'str héllo': 'blake3:6c59284428d711aa57f4a8ec2733f5d12993c28b71c5123fdc1c9d88f6cd2633',
    'bytes': 'blake3:ffe5ec88b8f3b8222924a2ba0f3abcf38b70f152d7dffc65baf39af9920fe235',
    'list empty': 'blake3:44daeb39bd5fa64764b23b4436dd8861b855b8a0bc7669479cafe58510074238',
    'list mixed': 'blake3:12cb961d5d6430b6eb8c1596637683eb57a6aa5825971eddfe8e2f4709b119ea',
    'dict nested': 'blake3:c8a6176d0528614539cee09f4ee4895baaa3cc63fd97e53d776c04b0676be3c5',
    'dict with arrays': 'blake3:d358bb342f47861ed97c2dec0f9fef5047144972e7624f24006c90d586aa69f2',
}
GOLDEN_FIRST_CHUNK = "3f710e25971eaff711dad88a5c780cfd497ea2cf4d8391aeaadc920a2590ad37"
GOLDEN_PANDAS = "blake3:57690dca3db6bac3714ceaaed3710eaf65f18a24b0d68aeef0fa75149c65a090"


def test_golden_vectors() -> None:
    inputs = _golden_inputs()
    assert set(inputs) == set(GOLDEN)
    got = {name: str(fingerprint(obj)) for name, obj in inputs.items()}
    assert got == GOLDEN


def test_golden_chunk_layout() -> None:
    fp = fingerprint(np.arange(2_000_000, dtype=np.float64))
    assert (fp.kind, fp.dtype, fp.shape, fp.chunk_elems, fp.n_chunks) == (
        "ndarray", "<f8", (2_000_000,), 16384, 123)
    assert fp.chunk_digest(0).hex() == GOLDEN_FIRST_CHUNK


def test_golden_pandas() -> None:
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": [1, 2, 3], "s": ["x", None, "z"], "f": [0.5, np.nan, -0.0]})
    assert str(fingerprint(df)) == GOLDEN_PANDAS


def _u32(n: int) -> bytes:
    return struct.pack("<I", n)


def _u64(n: int) -> bytes:
    return struct.pack("<Q", n)


def test_documented_byte_layout() -> None:
    """Rebuild digests by hand from the layout the module docstring (and README) documents."""
    a = np.arange(300_000, dtype=">i4").reshape(1000, 300)  # 1.2 MB: 19 chunks of 16384
    le = a.astype("<i4").tobytes()
    ce = 16384
    digests = [blake3(le[i * ce * 4:(i + 1) * ce * 4]).digest() for i in range(19)]
    header = (b"seedreg-fp" + _u32(1) + b"A" + _u32(3) + b"<i4" + _u32(2) + _u64(1000)
              + _u64(300) + _u64(ce) + _u64(19))
    fp = fingerprint(a)
    assert fp.hexdigest == blake3(header + b"".join(digests)).hexdigest()
    assert fp.chunks == b"".join(digests)

    obj = np.array([None, "é", b"z"], dtype=object)
    items = b"N" + b"S" + _u64(2) + "é".encode() + b"Y" + _u64(1) + b"z"
    header = (b"seedreg-fp" + _u32(1) + b"A" + _u32(2) + b"|O" + _u32(1) + _u64(3)
              + _u64(8192) + _u64(1))
    assert fingerprint(obj).hexdigest == blake3(header + blake3(items).digest()).hexdigest()

    value = {"b": [1, -1.5, None], "a": (True, b"x", 2**64, 1j, np.int8(3))}
    enc = (b"M" + _u64(2)
           + b"S" + _u64(1) + b"a" + b"L" + _u64(5) + b"T" + b"Y" + _u64(1) + b"x"
           + b"I" + _u64(9) + (2**64).to_bytes(9, "little") + b"C" + struct.pack("<dd", 0, 1)
           + b"X" + bytes.fromhex(fingerprint(np.int8(3)).hexdigest)
           + b"S" + _u64(1) + b"b" + b"L" + _u64(3) + b"I" + _u64(1) + b"\x01"
           + b"D" + struct.pack("<d", -1.5) + b"N")
    expected = blake3(b"seedreg-fp" + _u32(1) + b"V" + enc).hexdigest()
    assert fingerprint(value).hexdigest == expected
    assert fingerprint(-1).hexdigest == blake3(
        b"seedreg-fp" + _u32(1) + b"V" + b"I" + _u64(1) + b"\xff").hexdigest()


def test_encoding_version_is_1() -> None:
    assert ENCODING_VERSION == 1 and fpmod.ALGORITHM == "blake3"


# -- hypothesis strategies --------------------------------------------------------------

def dtypes() -> st.SearchStrategy[np.dtype]:
    return st.one_of(
        hnp.boolean_dtypes(),
        hnp.integer_dtypes(endianness="?"),
        hnp.unsigned_integer_dtypes(endianness="?"),
        hnp.floating_dtypes(endianness="?"),
        hnp.complex_number_dtypes(endianness="?"),
        hnp.datetime64_dtypes(endianness="?"),
        hnp.timedelta64_dtypes(endianness="?"),
        hnp.unicode_string_dtypes(endianness="?", max_len=4),
        hnp.byte_string_dtypes(max_len=4),
    )


arrays = dtypes().flatmap(lambda dt: hnp.arrays(
    dt, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)))


def _swapped(a: np.ndarray) -> np.ndarray:
    return a.astype(a.dtype.newbyteorder("S"))


def _strided_copy(a: np.ndarray) -> np.ndarray:
    """The same values as a view with step-2 strides into a bigger buffer."""
    big = np.zeros(tuple(2 * s for s in a.shape), dtype=a.dtype)
    view = big[(Ellipsis,) + tuple(slice(None, None, 2) for _ in a.shape)]
    view[...] = a
    return view


def _unaligned_copy(a: np.ndarray) -> np.ndarray:
    raw = np.zeros(a.nbytes + 1, dtype=np.uint8)
    out = raw[1:].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


@SETTINGS
@given(arrays)
def test_layout_does_not_matter(a: np.ndarray) -> None:
    fp = fingerprint(a)
    assert fp.kind == "ndarray" and fp.shape == a.shape
    assert fp.dtype == a.dtype.newbyteorder("<").str
    layouts = {
        "C copy": np.array(a, order="C"),
        "Fortran": np.array(a, order="F"),
        "swapped byte order": _swapped(a),
        "swapped Fortran": np.array(_swapped(a), order="F"),
        "strided": _strided_copy(a),
        "reversed": np.flip(np.flip(a).copy()) if a.ndim else a,
        "unaligned": _unaligned_copy(a),
    }
    for name, b in layouts.items():
        assert b.shape == a.shape
        np.testing.assert_array_equal(b, a)
        assert fingerprint(b) == fp, name
    if a.ndim and a.shape[0]:
        bcast = np.broadcast_to(a[:1], (3,) + a.shape[1:])
        assert fingerprint(bcast) == fingerprint(np.ascontiguousarray(bcast))


@SETTINGS
@given(arrays, st.data())
def test_any_bit_flip_is_detected(a: np.ndarray, data: st.DataObject) -> None:
    assume(a.size > 0)
    before = fingerprint(a)
    b = np.array(a, order="C")
    raw = b.reshape(-1).view(np.uint8)
    pos = data.draw(st.integers(0, raw.size - 1))
    raw[pos] ^= 1 << data.draw(st.integers(0, 7))
    after = fingerprint(b)
    assert after != before
    i = first_differing_chunk(before, after)
    start, stop = chunk_range(before, i)
    assert start <= pos // a.dtype.itemsize < stop


_BIG = np.arange(1_500_000, dtype=np.float64)  # 12 MB: 92 chunks of 16384 elements
_BIG_FP = fingerprint(_BIG)


@SETTINGS
@given(st.integers(0, _BIG.size - 1), st.integers(0, 63))
def test_bit_flip_in_large_array_points_at_its_chunk(index: int, bit: int) -> None:
    b = _BIG.copy()
    b.view(np.uint64)[index] ^= np.uint64(1 << bit)
    new = fingerprint(b)
    assert new != _BIG_FP
    i = first_differing_chunk(_BIG_FP, new)
    assert i is not None and i == index // _BIG_FP.chunk_elems
    start, stop = chunk_range(_BIG_FP, i)
    assert start <= index < stop
    assert [first_differing_chunk(_BIG_FP, fingerprint(x)) for x in
            (np.asfortranarray(b.reshape(1000, 1500)).reshape(-1), _swapped(b))] == [i, i]


@pytest.mark.parametrize("make", [
    lambda a: a,
    lambda a: _swapped(a),
    lambda a: _strided_copy(a),
], ids=["contiguous", "big-endian", "strided"])
def test_every_byte_is_covered(make) -> None:
    base = np.arange(5_000_000, dtype=np.uint8) * np.uint8(7)  # 5 MB, 77 chunks of 64 KiB
    ref = fingerprint(base)
    ce = ref.chunk_elems
    assert ref.n_chunks == 77 and ce == 64 * KIB
    for pos in (0, 1, ce - 1, ce, ce + 1, base.size - ce, base.size - 2, base.size - 1):
        b = base.copy()
        b[pos] ^= 0x80
        new = fingerprint(make(b))
        assert new != ref, pos
        assert first_differing_chunk(ref, new) == pos // ce, pos


def test_multibyte_items_first_and_last_byte() -> None:
    base = np.zeros((300, 1000), dtype=np.complex128)  # 4.8 MB, spans chunks
    ref = fingerprint(base)
    raw = base.reshape(-1).view(np.uint8)
    for pos in (0, raw.size - 1):
        b = base.copy()
        b.reshape(-1).view(np.uint8)[pos] = 1
        assert fingerprint(b) != ref
        assert fingerprint(np.asfortranarray(b)) == fingerprint(b)


def test_threads_and_buffer_sizes_do_not_change_digests(monkeypatch) -> None:
    a = np.arange(3_000_000, dtype=np.int32).reshape(1000, 3000)
    cases = [a, np.asfortranarray(a), a[:, ::-1], _swapped(a), a.T, (a % 1000).astype(np.float16)]
    expected = [fingerprint(x) for x in cases]
    monkeypatch.setattr(fpmod, "_THREAD_MIN_BYTES", 1 << 62)
    monkeypatch.setattr(fpmod, "_BUF_BYTES", 1000)
    assert [fingerprint(x) for x in cases] == expected
    assert [fingerprint(np.ascontiguousarray(x)) for x in cases] == expected


def test_same_values_different_layout_large() -> None:
    a = np.random.default_rng(1).random((512, 2048))  # 8 MB
    fp = fingerprint(a)
    assert fingerprint(np.asfortranarray(a)) == fp
    assert fingerprint(a.astype(">f8")) == fp
    assert fingerprint(np.ascontiguousarray(a.T).T) == fp
    big = np.zeros((512, 4096))
    big[:, ::2] = a
    assert fingerprint(big[:, ::2]) == fp
    assert fingerprint(a[::-1, ::-1].copy()[::-1, ::-1]) == fp
    assert fingerprint(a[:, :-1]) != fp


# -- scalars, bitwise equality, type tags -----------------------------------------------

@pytest.mark.parametrize("scalar", [
    np.float64(1.5), np.float32(-0.0), np.int8(-3), np.uint64(2**64 - 1), np.bool_(True),
    np.complex64(1j), np.str_("héllo"), np.bytes_(b"ab"), np.datetime64("2020-01-01", "D"),
    np.timedelta64(5, "s"), np.float16(2.0),
])
def test_numpy_scalar_equals_0d_array(scalar) -> None:
    fp = fingerprint(scalar)
    assert fp == fingerprint(np.array(scalar))
    assert fp.kind == "ndarray" and fp.shape == () and fp.n_chunks == 1


def test_python_scalars_differ_from_numpy_scalars() -> None:
    assert fingerprint(1.5) != fingerprint(np.float64(1.5))
    assert fingerprint("a") != fingerprint(np.str_("a"))


def test_signed_zero_and_nan_payloads_differ() -> None:
    nan2 = struct.unpack("<d", struct.pack("<Q", 0x7FF8000000000001))[0]
    assert math.isnan(nan2)
    assert fingerprint(0.0) != fingerprint(-0.0)
    assert fingerprint(float("nan")) != fingerprint(nan2)
    assert fingerprint(float("nan")) == fingerprint(float("nan"))
    assert fingerprint(np.array([0.0])) != fingerprint(np.array([-0.0]))
    assert fingerprint(np.array([np.nan])) != fingerprint(np.array([nan2]))
    n32 = np.array([np.nan], dtype=np.float32)
    n32b = n32.copy()
    n32b.view(np.uint32)[0] |= 1
    assert fingerprint(n32) != fingerprint(n32b)
    assert fingerprint([0.0]) != fingerprint([-0.0])


def test_type_tags_keep_values_apart() -> None:
    distinct = [1, 1.0, True, "1", b"1", [1], None, 0, False, 0.0, "", b"", [], {},
                np.array(1), np.array([1]), np.int32(1), 1 + 0j, [[]], [None], ["", ""], [""],
                np.array([1, 2, 3]), [1, 2, 3], (1, 2), [(1,), 2], [1, (2,)],
                np.array(["ab"]), np.array(["ab"], dtype=object), np.array([b"ab"]),
                np.array([1], dtype=np.int32), np.array([1], dtype=np.uint64),
                np.zeros((0, 3)), np.zeros((3, 0)), np.zeros(0), np.zeros(0, dtype=np.int64)]
    fps = [str(fingerprint(x)) for x in distinct]
    assert len(set(fps)) == len(fps)


def test_list_equals_tuple_and_nested_sequences() -> None:
    assert fingerprint([1, "a", (2, [3])]) == fingerprint((1, "a", [2, (3,)]))
    assert fingerprint([]) == fingerprint(())


@SETTINGS
@given(st.dictionaries(st.text(), st.one_of(st.integers(), st.floats(allow_nan=False),
                                            st.text(), st.none()), min_size=1))
def test_dict_order_does_not_matter(d: dict) -> None:
    reordered = dict(reversed(list(d.items())))
    assert fingerprint(reordered) == fingerprint(d)
    assert fingerprint({"outer": reordered}) == fingerprint({"outer": d})


@SETTINGS
@given(st.integers(), st.integers())
def test_ints_of_any_size(x: int, y: int) -> None:
    assert (fingerprint(x) == fingerprint(y)) == (x == y)


def test_big_and_negative_ints() -> None:
    values = [0, -1, 1, 255, 256, -128, -129, 2**63, 2**64, -(2**64), 2**64 + 1, 10**40]
    assert len({str(fingerprint(v)) for v in values}) == len(values)


def test_bytes_like_are_bytes() -> None:
    fp = fingerprint(b"abc")
    assert fingerprint(bytearray(b"abc")) == fp
    assert fingerprint(memoryview(b"xabc")[1:]) == fp
    assert fingerprint(memoryview(b"a_b_c_")[::2]) == fp
    big = bytes(range(256)) * 1000  # streamed to the hasher, not buffered
    assert fingerprint(big) == fingerprint(bytearray(big)) != fingerprint(big[:-1])
    assert fingerprint(["x" * 100_000]) != fingerprint(["x" * 99_999 + "y"])


def test_object_arrays() -> None:
    a = np.array(["a", None, b"b", np.str_("c")], dtype=object)
    assert fingerprint(a) == fingerprint(np.array(["a", None, b"b", "c"], dtype=object))
    assert fingerprint(a) != fingerprint(np.array(["a", None, "b", "c"], dtype=object))
    assert fingerprint(a.reshape(2, 2).T) == fingerprint(np.ascontiguousarray(a.reshape(2, 2).T))
    big = np.array([f"s{i}" for i in range(300_000)], dtype=object)  # several chunks
    fp = fingerprint(big)
    assert fp.dtype == "|O" and fp.n_chunks > 1
    b = big.copy()
    b[-1] = "changed"
    assert first_differing_chunk(fp, fingerprint(b)) == fp.n_chunks - 1
    with pytest.raises(UnsupportedTypeError, match=r"'int'.*flat index 1"):
        fingerprint(np.array(["a", 1], dtype=object))
    with pytest.raises(UnsupportedTypeError, match="'float'"):
        fingerprint([np.array([None, 1.5], dtype=object)])


def test_string_dtype_arrays() -> None:
    sd = np.dtypes.StringDType(na_object=None)
    a = np.array(["a", None, "bc"], dtype=sd)
    assert fingerprint(a).dtype == "|T"
    assert fingerprint(a) == fingerprint(np.array(["a", None, "bc"], dtype=sd))
    assert fingerprint(a) != fingerprint(np.array(["a", None, "bd"], dtype=sd))
    assert fingerprint(a) != fingerprint(np.array(["a", None, "bc"], dtype=object))


@pytest.mark.skipif(not fpmod._LD_PAD, reason="long double has no padding bytes here")
def test_long_double_padding_is_ignored() -> None:
    a = np.array([1.5, -2.0], dtype=np.longdouble)
    b = a.copy()
    raw = b.view(np.uint8).reshape(2, -1)
    raw[:, fpmod._LD_PAD:] = 0xAB
    assert (a == b).all()
    assert fingerprint(a) == fingerprint(b) == fingerprint(_swapped(b))
    assert fingerprint(a) != fingerprint(np.array([1.5, -2.5], dtype=np.longdouble))
    c = np.array([1 + 2j], dtype=np.clongdouble)
    d = c.copy()
    d.view(np.uint8).reshape(2, -1)[:, fpmod._LD_PAD:] = 0x5A
    assert fingerprint(c) == fingerprint(d)


def test_list_differs_from_array_and_arrays_nest() -> None:
    assert fingerprint([1, 2, 3]) != fingerprint(np.array([1, 2, 3]))
    a = np.arange(6.0).reshape(2, 3)
    assert fingerprint({"a": a}) == fingerprint({"a": np.asfortranarray(a)})
    assert fingerprint({"a": a}) != fingerprint({"a": a + 1})
    assert fingerprint([np.float64(2.0)]) == fingerprint([np.array(2.0)])


# -- errors -----------------------------------------------------------------------------

class _Thing:
    pass


@pytest.mark.parametrize("obj, pattern", [
    ({1, 2}, r"'set' \(convert it to a sorted list\)"),
    (frozenset(), "'frozenset'"),
    (_Thing(), "'_Thing': supported are numpy arrays"),
    (len, "'builtin_function_or_method'"),
    ({1: "a"}, "'int' key"),
    ([{"ok": [{2: 3}]}], "'int' key"),
    (np.zeros(2, dtype=[("x", "f8")]), "structured dtype"),
    (np.ma.masked_array([1, 2], mask=[0, 1]), "masked array"),
    (np.array([object()], dtype=object), "'object'"),
    (range(3), "'range'"),
])
def test_unsupported_types(obj, pattern) -> None:
    with pytest.raises(UnsupportedTypeError, match=pattern) as info:
        fingerprint(obj)
    assert isinstance(info.value, TypeError) and isinstance(info.value, SeedregError)


def test_self_reference_and_depth() -> None:
    loop: list = [1]
    loop.append([loop])
    with pytest.raises(UnsupportedTypeError, match="self-referencing list"):
        fingerprint(loop)
    d: dict = {}
    d["me"] = d
    with pytest.raises(UnsupportedTypeError, match="self-referencing dict"):
        fingerprint(d)
    shared = [1]
    assert fingerprint([shared, shared]) == fingerprint([[1], [1]])  # sharing is no cycle
    deep: list = []
    for _ in range(1000):
        deep = [deep]
    with pytest.raises(UnsupportedTypeError, match="nested"):
        fingerprint(deep)


class Picklable:
    """An ordinary object pickle would gladly serialise; ``__reduce_ex__`` records every request."""

    requests: list[int] = []

    def __reduce_ex__(self, protocol):
        Picklable.requests.append(protocol)
        return (Picklable, ())


def test_never_pickles(monkeypatch) -> None:
    assert isinstance(pickle.loads(pickle.dumps(Picklable())), Picklable)  # pickle could encode it
    Picklable.requests.clear()
    used = []

    def spy(*args, **kwargs):
        used.append(args)
        raise AssertionError("pickle used")

    monkeypatch.setattr(pickle, "dumps", spy)
    monkeypatch.setattr(pickle, "dump", spy)
    for obj in (Picklable(), [1, Picklable()], {"k": Picklable()}, np.array([Picklable()], dtype=object),
                np.array(["a", None, Picklable()], dtype=object), {1, 2}, range(3)):
        with pytest.raises(UnsupportedTypeError) as caught:
            fingerprint(obj)
        assert isinstance(caught.value, TypeError)
    supported = [np.array(["a", None], dtype=object), {"k": np.arange(3)}]
    assert fingerprint(supported) == fingerprint([np.array(["a", None], dtype=object), {"k": np.arange(3)}])
    assert fingerprint(supported) != fingerprint([np.array(["a", "b"], dtype=object), {"k": np.arange(3)}])
    assert used == [] and Picklable.requests == []


# -- Fingerprint object, chunking rule --------------------------------------------------

def test_fingerprint_str_eq_hash_parse() -> None:
    fp = fingerprint([1, 2])
    text = str(fp)
    assert text.startswith("blake3:") and len(fp.hexdigest) == 64
    assert fp == text and text == fp and fp == fingerprint((1, 2))
    assert fp != fingerprint([1, 3]) and fp != text.upper() and fp != 42
    parsed = Fingerprint.parse(text)
    assert parsed == fp and hash(parsed) == hash(fp) == hash(text)
    assert parsed.kind == "unknown" and parsed.n_chunks == 0 and parsed.chunks is None
    assert Fingerprint.parse("blake3:" + fp.hexdigest.upper()) == fp
    assert {fp: 1}[text] == 1
    assert len(repr(fingerprint(np.zeros(10**6)))) < 200  # no chunk digests dumped
    for bad in ["", "blake3", "blake3:", "blake3:abc", "blake3:" + "g" * 64,
                "blake3:" + "0" * 62, fp.hexdigest, ":" + fp.hexdigest, "BLAKE 3:00"]:
        with pytest.raises(ValueError):
            Fingerprint.parse(bad)
    assert str(Fingerprint.parse("sha256:" + "ab" * 32)) == "sha256:" + "ab" * 32


def test_chunk_accessors() -> None:
    fp = fingerprint(np.arange(100_000, dtype=np.int64))  # 800 KB: 13 chunks of 8192
    assert (fp.chunk_elems, fp.n_chunks) == (8192, 13)
    assert chunk_range(fp, 0) == (0, 8192)
    assert chunk_range(fp, 12) == (12 * 8192, 100_000)
    assert len(fp.chunk_digest(12)) == 32
    with pytest.raises(IndexError):
        fp.chunk_digest(13)
    with pytest.raises(IndexError):
        chunk_range(fp, -1)
    with pytest.raises(ValueError):
        chunk_range(fingerprint("x"), 0)
    empty = fingerprint(np.zeros((0, 5)))
    assert empty.n_chunks == 0 and empty.chunks == b""
    assert empty != fingerprint(np.zeros((5, 0))) != fingerprint(np.zeros((0, 5), dtype="f4"))


def test_first_differing_chunk_needs_same_layout() -> None:
    a = np.arange(100_000, dtype=np.int64)
    fa = fingerprint(a)
    assert first_differing_chunk(fa, fingerprint(a.copy())) is None
    assert first_differing_chunk(fa, fingerprint(a.astype(np.int32))) is None
    assert first_differing_chunk(fa, fingerprint(a[:-1])) is None
    assert first_differing_chunk(fa, fingerprint(a.reshape(100, 1000))) is None
    assert first_differing_chunk(fa, Fingerprint.parse(str(fa))) is None
    assert first_differing_chunk(fingerprint([1]), fingerprint([2])) is None
    b = a.copy()
    b[50_000] = -1
    assert first_differing_chunk(fa, fingerprint(b)) == 50_000 // 8192


@pytest.mark.parametrize("nbytes, itemsize, chunk_bytes", [
    (0, 8, 64 * KIB), (8, 8, 64 * KIB), (64 * KIB - 8, 8, 64 * KIB), (64 * KIB, 8, 64 * KIB),
    (4 * MIB, 8, 64 * KIB), (4 * MIB + 8, 8, 64 * KIB), (8 * MIB, 8, 128 * KIB),
    (64 * MIB - 8, 8, 512 * KIB), (64 * MIB, 8, MIB), (256 * MIB, 8, MIB),
    (256 * MIB + 8, 8, 2 * MIB), (512 * MIB, 8, 2 * MIB), (1 << 30, 8, 4 * MIB),
    (1 << 34, 8, 64 * MIB), (16 * MIB, 4, 256 * KIB), (1000, 1, 64 * KIB),
])
def test_chunk_rule_table(nbytes: int, itemsize: int, chunk_bytes: int) -> None:
    assert chunk_elems_for(nbytes, itemsize) == chunk_bytes // itemsize


def test_chunk_rule_big_items_and_non_power_of_two_items() -> None:
    assert chunk_elems_for(10 * MIB, 200 * KIB) == 1  # an item larger than a chunk
    assert chunk_elems_for(3 * MIB, 20) == 64 * KIB // 20  # element-aligned, not byte-exact
    assert chunk_elems_for(0, 0) >= 1


@SETTINGS
@given(st.integers(1, 1 << 36), st.sampled_from([1, 2, 4, 8, 16]))
def test_chunk_rule_properties(nbytes: int, itemsize: int) -> None:
    nbytes -= nbytes % itemsize
    assume(nbytes > 0)
    ce = chunk_elems_for(nbytes, itemsize)
    cb = ce * itemsize
    n = -(-nbytes // cb)
    assert cb & (cb - 1) == 0  # a power of two for power-of-two items
    if nbytes < 64 * KIB:
        assert n == 1
    elif nbytes <= 256 * MIB:
        assert 64 * KIB <= cb <= MIB
        if nbytes >= 4 * MIB:
            assert n >= 64
    else:
        assert 128 <= n <= 256


# -- pandas -----------------------------------------------------------------------------

def test_pandas_frames() -> None:
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({
        "i": [1, 2, 3], "f": [0.5, np.nan, 2.0], "s": ["x", None, "z"],
        "c": pd.Categorical(["u", "v", "u"]), "n": pd.array([1, None, 3], dtype="Int64"),
        "t": pd.date_range("2020-01-01", periods=3, tz="Europe/Paris"),
        "d": pd.date_range("2020-01-01", periods=3),
    })
    fp = fingerprint(df)
    assert fp.kind == "value" and fp == fingerprint(df.copy())
    assert fingerprint(df.copy()[["i", "f", "s", "c", "n", "t", "d"]]) == fp
    changed = [
        df.assign(i=[1, 2, 4]), df.assign(f=[0.5, np.nan, -2.0]), df.assign(s=["x", None, "y"]),
        df.assign(s=["x", "", "z"]), df.rename(columns={"i": "j"}), df[["f", "i", "s", "c",
        "n", "t", "d"]], df.set_axis([1, 2, 3], axis=0), df.iloc[:2],
        df.assign(c=pd.Categorical(["u", "v", "u"], ordered=True)),
        df.assign(n=pd.array([1, 2, 3], dtype="Int64")),
        df.assign(t=df["t"].dt.tz_convert("UTC")), df.assign(i=[1.0, 2.0, 3.0]),
    ]
    for i, other in enumerate(changed):
        assert fingerprint(other) != fp, i
    series = df["i"]
    assert fingerprint(series) != fingerprint(series.rename("other"))
    assert fingerprint(series) != fingerprint(df[["i"]])
    assert fingerprint(series) == fingerprint(pd.Series([1, 2, 3], name="i"))
    assert fingerprint(pd.Index(["a", "b"])) == fingerprint(pd.Index(["a", "b"], dtype=object))
    assert fingerprint(pd.Index(["a", "b"])) != fingerprint(pd.Index(["a", "b"], name="n"))
    mi = pd.MultiIndex.from_tuples([("a", 1), ("b", 2)], names=["k", "v"])
    assert fingerprint(mi) == fingerprint(pd.MultiIndex.from_arrays([["a", "b"], [1, 2]],
                                                                    names=["k", "v"]))
    assert fingerprint(mi) != fingerprint(pd.MultiIndex.from_tuples([("a", 1), ("b", 3)],
                                                                    names=["k", "v"]))
    assert fingerprint({"frame": df}) == fingerprint({"frame": df.copy()})
    with pytest.raises(UnsupportedTypeError, match="period"):
        fingerprint(pd.Series(pd.period_range("2020", periods=2, freq="D")))
    with pytest.raises(UnsupportedTypeError, match="'int'"):
        fingerprint(pd.Series([1, "a"], dtype=object))


def test_module_does_not_import_pandas() -> None:
    # load seedreg.fingerprints.encoding alone (a bare package object stands in for seedreg/__init__)
    code = (
        "import importlib, sys, types\n"
        "pkg = types.ModuleType('seedreg'); pkg.__path__ = [sys.argv[1]]\n"
        "sys.modules['seedreg'] = pkg\n"
        "m = importlib.import_module('seedreg.fingerprints.encoding')\n"
        "m.fingerprint([m.np.arange(3), 'x'])\n"
        "print('pandas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, os.path.dirname(os.path.dirname(fpmod.__file__))],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- threads and fork -------------------------------------------------------------------

def _child_fingerprints(queue) -> None:
    queue.put(str(fingerprint(np.arange(1_000_000, dtype=np.float64))))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_pool_works_in_a_forked_child() -> None:
    expected = str(fingerprint(np.arange(1_000_000, dtype=np.float64)))  # pool is running
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child_fingerprints, args=(queue,))
    proc.start()
    proc.join(timeout=30)
    assert proc.exitcode == 0
    assert queue.get(timeout=5) == expected
