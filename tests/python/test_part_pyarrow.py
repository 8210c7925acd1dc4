"""The native part format against pyarrow, both directions.

(a) sluice writes parts (none / lz4 / zstd) -> pyarrow.ipc.open_stream reads them;
    Python computes the canonical text of every value itself and compares it
    with `part_interop dump` (sluice's own decoder), and checks that the sluice
    header is visible to pyarrow as schema / field metadata.
(b) pyarrow writes Arrow streams (uncompressed, lz4, zstd) -> `part_interop dump`
    -> equal to the canonical text Python computes from the table it wrote.

The canonical text forms are those of src/core/text.h; they are re-implemented
here independently (floats: shortest round-trip digits, printed like C++
std::to_chars: fixed or scientific, whichever is shorter, fixed on a tie).
"""
import base64
import datetime as dt
import decimal
import json
import math
import os
import pathlib
import struct
import subprocess
import uuid

import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

BUILD = pathlib.Path(os.environ.get("SLUICE_BUILD_DIR", pathlib.Path(__file__).parents[2] / "build"))
COMPRESSIONS = ["none", "lz4", "zstd"]
EPOCH = dt.date(1970, 1, 1)
MICROS_PER_DAY = 86_400_000_000


@pytest.fixture(scope="module")
def tool():
    for path in (BUILD / "src/formats/part/part_interop", BUILD / "part_interop"):
        if path.exists():
            return path
    pytest.fail(f"part_interop not found under {BUILD} (build target part_interop)")


def run(tool, *args):
    proc = subprocess.run([str(tool), *map(str, args)], capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr


def dump(tool, path):
    rc, out, err = run(tool, "dump", path)
    assert rc == 0, err
    return [json.loads(line) for line in out.splitlines()]


# ---- canonical text, computed independently of sluice ---------------------------------------

def shortest_digits(v, single):
    """Shortest decimal digits that round-trip `v` (as float32 when `single`): (digits, exp10)."""
    for p in range(1, 18):
        s = f"{v:.{p - 1}e}"
        back = float(s)
        if single:
            back = struct.unpack("<f", struct.pack("<f", back))[0]
        if back == v:
            mant, exp = s.split("e")
            return mant.replace(".", "").replace("-", ""), int(exp)
    raise AssertionError(f"no round-trip repr for {v!r}")


def float_text(v, single=False):
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "-Infinity" if v < 0 else "Infinity"
    sign = "-" if math.copysign(1.0, v) < 0 else ""
    if v == 0:
        return sign + "0"
    digits, e = shortest_digits(abs(v), single)
    digits = digits.rstrip("0") or "0"
    sci = digits[0] + ("." + digits[1:] if len(digits) > 1 else "") + \
        ("e-" if e < 0 else "e+") + f"{abs(e):02d}"
    if e >= 0:
        fixed = digits + "0" * (e + 1 - len(digits)) if len(digits) <= e + 1 \
            else digits[:e + 1] + "." + digits[e + 1:]
    else:
        fixed = "0." + "0" * (-e - 1) + digits
    return sign + (fixed if len(fixed) <= len(sci) else sci)


def decimal_text(d, scale):
    sign, digits, exponent = d.as_tuple()
    unscaled = int("".join(map(str, digits)) or "0") * 10 ** (exponent + scale)
    s = str(unscaled).rjust(scale + 1, "0")
    body = s[:-scale] + "." + s[-scale:] if scale > 0 else s
    return ("-" if sign and unscaled != 0 else "") + body


def time_text(micros):
    secs, frac = divmod(micros, 1_000_000)
    out = f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}"
    return out + (f".{frac:06d}" if frac else "")


def timestamp_text(micros, zoned):
    days, rest = divmod(micros, MICROS_PER_DAY)  # floor division, like the calendar
    date = (EPOCH + dt.timedelta(days=days)).isoformat()
    return date + "T" + time_text(rest) + ("Z" if zoned else "")


def column_texts(arr):
    """Canonical text (or None for NULL) of every value of a pyarrow array."""
    t = arr.type
    if isinstance(t, pa.BaseExtensionType):
        name = t.extension_name
        storage = arr.storage
        if name == "arrow.uuid":
            return [None if b is None else str(uuid.UUID(bytes=b)) for b in storage.to_pylist()]
        if name == "arrow.json":
            return storage.to_pylist()
        return column_texts(storage)
    if pa.types.is_integer(t):
        return [None if v is None else str(v) for v in arr.to_pylist()]
    if pa.types.is_float32(t) or pa.types.is_float64(t):
        single = pa.types.is_float32(t)
        return [None if v is None else float_text(v, single) for v in arr.to_pylist()]
    if pa.types.is_decimal(t):
        return [None if v is None else decimal_text(v, t.scale) for v in arr.to_pylist()]
    if pa.types.is_boolean(t):
        return [None if v is None else ("true" if v else "false") for v in arr.to_pylist()]
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return arr.to_pylist()
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return [None if v is None else base64.b64encode(v).decode() for v in arr.to_pylist()]
    if pa.types.is_date32(t):
        return [None if v is None else (EPOCH + dt.timedelta(days=v)).isoformat()
                for v in arr.cast(pa.int32()).to_pylist()]
    if pa.types.is_time64(t):
        assert t.unit == "us"
        return [None if v is None else time_text(v) for v in arr.cast(pa.int64()).to_pylist()]
    if pa.types.is_timestamp(t):
        assert t.unit == "us"
        zoned = bool(t.tz)
        return [None if v is None else timestamp_text(v, zoned)
                for v in arr.cast(pa.int64()).to_pylist()]
    raise AssertionError(f"no canonical text for {t}")


def table_rows(table):
    cols = {name: column_texts(table.column(name).combine_chunks()) for name in table.column_names}
    return [{name: cols[name][i] for name in table.column_names} for i in range(table.num_rows)]


def test_float_text_matches_to_chars_rules():
    # Hand-checked against the C++ std::to_chars shortest-representation rules.
    assert float_text(0.1) == "0.1"
    assert float_text(100000.0) == "1e+05"
    assert float_text(123456.0) == "123456"
    assert float_text(0.001) == "0.001"
    assert float_text(0.0001) == "1e-04"
    assert float_text(-2.5) == "-2.5"
    assert float_text(1.7976931348623157e308) == "1.7976931348623157e+308"
    assert float_text(struct.unpack("<f", struct.pack("<f", 0.1))[0], single=True) == "0.1"
    assert float_text(-0.0) == "-0"


# ---- (a) sluice writes, pyarrow reads ----------------------------------------------------------

EXPECTED_HEADER_KEYS = {
    b"sluice.format_version", b"sluice.kind", b"sluice.stream_id", b"sluice.part_number",
    b"sluice.total_parts", b"sluice.rows", b"sluice.position_start", b"sluice.position_end",
    b"sluice.source_fingerprint", b"sluice.idempotency_key", b"sluice.created_at",
    b"sluice.checksum",
}


@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("rows", [0, 1, 200])
def test_sluice_part_read_by_pyarrow(tool, tmp_path, compression, rows):
    path = tmp_path / f"part-{compression}-{rows}.arrow"
    rc, _, err = run(tool, "write", path, rows, 42, compression)
    assert rc == 0, err
    with ipc.open_stream(path.read_bytes()) as reader:
        table = reader.read_all()
    assert table.num_rows == rows

    meta = table.schema.metadata
    assert EXPECTED_HEADER_KEYS <= set(meta), set(meta)
    assert meta[b"sluice.format_version"] == b"1"
    assert meta[b"sluice.kind"] == b"data"
    assert meta[b"sluice.rows"] == str(rows).encode()
    assert len(meta[b"sluice.checksum"]) == 16
    assert len(meta[b"sluice.idempotency_key"]) == 32

    schema = table.schema
    assert schema.field("i64").metadata[b"sluice:primary_key"] == b"true"
    assert schema.field("i64").metadata[b"sluice:source_type"] == b"bigint"
    assert not schema.field("i64").nullable
    assert schema.field("dec38").type == pa.decimal128(38, 9)
    assert schema.field("d").type == pa.date32()
    assert schema.field("t").type == pa.time64("us")
    assert schema.field("ts").type == pa.timestamp("us")
    assert schema.field("tstz").type == pa.timestamp("us", tz="UTC")
    assert schema.field("uuid").type.extension_name == "arrow.uuid"
    assert schema.field("js").type.extension_name == "arrow.json"

    expected = table_rows(table)
    assert dump(tool, path) == expected
    if rows >= 8:
        assert any(v is None for row in expected for v in row.values())


# ---- (b) pyarrow writes, sluice reads ----------------------------------------------------------

def pyarrow_table():
    d = decimal.Decimal
    n = None
    big = d("99999999999999999999999999999.999999999")
    cols = {
        "i8": pa.array([-128, 127, 0, n, 5], pa.int8()),
        "i16": pa.array([-32768, 32767, 0, n, -5], pa.int16()),
        "i32": pa.array([-2**31, 2**31 - 1, 0, n, 7], pa.int32()),
        "i64": pa.array([-2**63, 2**63 - 1, 0, 1, 2], pa.int64()),
        "u8": pa.array([0, 255, n, 1, 2], pa.uint8()),
        "u16": pa.array([0, 65535, n, 1, 2], pa.uint16()),
        "u32": pa.array([0, 2**32 - 1, n, 1, 2], pa.uint32()),
        "u64": pa.array([0, 2**64 - 1, n, 12345678901234567890, 2], pa.uint64()),
        "f32": pa.array([float("nan"), float("inf"), -0.0, 0.1, n], pa.float32()),
        "f64": pa.array([float("-inf"), 1e-5, 123.456, 1e16, n], pa.float64()),
        "dec": pa.array([big, big.copy_negate(), d("0"), d("-0.000000001"), n], pa.decimal128(38, 9)),
        "dec2": pa.array([d("1.50"), d("-0.01"), n, d("12345678.90"), d("0")], pa.decimal128(12, 2)),
        "b": pa.array([True, False, n, True, False], pa.bool_()),
        "s": pa.array(["", "Привет, мир", "東京 🚀", n, 'q"uote\\\n'], pa.string()),
        "ls": pa.array(["large", n, "", "ü", "x" * 100], pa.large_string()),
        "bin": pa.array([b"", b"\x00\xff", n, b"abc", bytes(range(32))], pa.binary()),
        "lbin": pa.array([b"\x01", n, b"", b"zz", b"\xfe"], pa.large_binary()),
        "d": pa.array([-719162, 2932896, 0, n, 19000], pa.date32()),
        "t": pa.array([0, 86_400_000_000 - 1, 1, n, 43_200_000_000], pa.time64("us")),
        "ts": pa.array([-62135596800000000, 253402300799999999, 0, n, -1], pa.timestamp("us")),
        "tsz": pa.array([0, n, 1_700_000_000_123_456, -1, 5], pa.timestamp("us", tz="UTC")),
        "tsm": pa.array([0, n, 1_700_000_000_000_000, 2, 5], pa.timestamp("us", tz="Europe/Moscow")),
        "uuid": pa.ExtensionArray.from_storage(
            pa.uuid(), pa.array([uuid.UUID(int=i * 0x1234567).bytes if i != 2 else None
                                 for i in range(5)], pa.binary(16))),
        "js": pa.ExtensionArray.from_storage(
            pa.json_(), pa.array(['{"a":1}', n, "[]", '"x"', "null"], pa.string())),
    }
    fields = [pa.field(k, v.type, nullable=(k != "i64")) for k, v in cols.items()]
    return pa.Table.from_arrays(list(cols.values()), schema=pa.schema(fields))


def write_stream(path, table, compression, max_chunksize=None):
    options = ipc.IpcWriteOptions(compression=None if compression == "none" else compression)
    with ipc.new_stream(str(path), table.schema, options=options) as w:
        w.write_table(table, max_chunksize=max_chunksize)


@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("chunk", [None, 2])
def test_pyarrow_stream_read_by_sluice(tool, tmp_path, compression, chunk):
    table = pyarrow_table()
    path = tmp_path / f"pa-{compression}-{chunk}.arrow"
    write_stream(path, table, compression, max_chunksize=chunk)
    assert dump(tool, path) == table_rows(table)


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_pyarrow_sliced_and_empty_streams(tool, tmp_path, compression):
    table = pyarrow_table()
    for name, t in [("slice", table.slice(1, 3)), ("empty", table.slice(0, 0))]:
        path = tmp_path / f"{name}-{compression}.arrow"
        write_stream(path, t, compression)
        assert dump(tool, path) == table_rows(t)


@pytest.mark.parametrize("typ, name", [
    (pa.list_(pa.int32()), "List"),
    (pa.timestamp("ms"), "timestamp"),
    (pa.float16(), "float16"),
    (pa.dictionary(pa.int32(), pa.string()), "dictionary"),
])
def test_unsupported_types_name_the_column(tool, tmp_path, typ, name):
    values = [1, 2] if not pa.types.is_list(typ) else [[1], [2]]
    if pa.types.is_dictionary(typ):
        arr = pa.array(["a", "b"]).dictionary_encode()
    elif pa.types.is_float16(typ):
        import numpy as np
        arr = pa.array(np.array([1, 2], dtype=np.float16))
    else:
        arr = pa.array(values, typ)
    table = pa.table({"ok": pa.array([1, 2]), "bad_col": arr})
    path = tmp_path / "unsupported.arrow"
    write_stream(path, table, "none")
    rc, _, err = run(tool, "dump", path)
    assert rc != 0
    assert "bad_col" in err and name in err, err
