"""The Arrow C Data Interface between sluice and pyarrow, both directions.

sluice's side is reached through a small ctypes shim (src/core/c_data_testlib.cc).
Each side checks values with its own equality, so neither trusts the other's decoder.
"""
import ctypes
import datetime as dt
import decimal
import os
import pathlib
import uuid

import pyarrow as pa
import pytest

BUILD = pathlib.Path(os.environ.get("SLUICE_BUILD_DIR", pathlib.Path(__file__).parents[2] / "build"))


class ArrowSchema(ctypes.Structure):
    pass


class ArrowArray(ctypes.Structure):
    pass


ArrowSchema._fields_ = [
    ("format", ctypes.c_char_p), ("name", ctypes.c_char_p), ("metadata", ctypes.c_void_p),
    ("flags", ctypes.c_int64), ("n_children", ctypes.c_int64),
    ("children", ctypes.POINTER(ctypes.POINTER(ArrowSchema))),
    ("dictionary", ctypes.POINTER(ArrowSchema)), ("release", ctypes.c_void_p),
    ("private_data", ctypes.c_void_p)]
ArrowArray._fields_ = [
    ("length", ctypes.c_int64), ("null_count", ctypes.c_int64), ("offset", ctypes.c_int64),
    ("n_buffers", ctypes.c_int64), ("n_children", ctypes.c_int64),
    ("buffers", ctypes.POINTER(ctypes.c_void_p)),
    ("children", ctypes.POINTER(ctypes.POINTER(ArrowArray))),
    ("dictionary", ctypes.POINTER(ArrowArray)), ("release", ctypes.c_void_p),
    ("private_data", ctypes.c_void_p)]


@pytest.fixture(scope="module")
def lib():
    path = BUILD / "libsluice_c_data_testlib.so"
    if not path.exists():
        pytest.fail(f"{path} not built (build target sluice_c_data_testlib)")
    return ctypes.CDLL(str(path))


def addr(struct):
    return ctypes.addressof(struct)


def sluice_all_types(lib, rows, seed):
    arr, sch = ArrowArray(), ArrowSchema()
    err = ctypes.create_string_buffer(1024)
    rc = lib.sluice_test_export_all_types(ctypes.c_int64(rows), ctypes.c_uint64(seed),
                                          ctypes.byref(arr), ctypes.byref(sch), err, 1024)
    assert rc == 0, err.value.decode()
    return pa.RecordBatch._import_from_c(addr(arr), addr(sch))


def test_sluice_batch_is_read_by_pyarrow_with_the_right_types(lib):
    batch = sluice_all_types(lib, 500, 42)
    assert batch.num_rows == 500
    t = {f.name: f.type for f in batch.schema}
    assert t["i8"] == pa.int8() and t["u64"] == pa.uint64() and t["f32"] == pa.float32()
    assert t["dec38"] == pa.decimal128(38, 9)
    assert t["b"] == pa.bool_() and t["s"] == pa.string() and t["bin"] == pa.binary()
    assert t["d"] == pa.date32() and t["t"] == pa.time64("us")
    assert t["ts"] == pa.timestamp("us") and t["tstz"] == pa.timestamp("us", tz="UTC")
    assert t["uuid"].storage_type == pa.binary(16) if hasattr(t["uuid"], "storage_type") else t["uuid"] == pa.binary(16)
    assert not batch.schema.field("i64").nullable
    assert batch.schema.field("i64").metadata[b"sluice:primary_key"] == b"true"
    batch.validate(full=True)
    # Row 0 holds the documented maxima, row 1 the minima (see src/core/testing.cc).
    assert batch.column("i64")[0].as_py() == 2**63 - 1
    assert batch.column("i64")[1].as_py() == -(2**63)
    assert batch.column("u64")[0].as_py() == 2**64 - 1
    assert batch.column("dec38")[0].as_py() == decimal.Decimal("99999999999999999999999999999.999999999")
    assert batch.column("dec38")[1].as_py() == decimal.Decimal("-99999999999999999999999999999.999999999")
    assert batch.column("d")[0].as_py() == dt.date(9999, 12, 31)
    assert batch.column("d")[1].as_py() == dt.date(1, 1, 1)
    assert batch.column("f32")[0].as_py() == float("inf")
    assert batch.column("s")[2].as_py() == ""          # empty string, not NULL
    assert batch.column("s").null_count > 0             # and real NULLs elsewhere
    words = set(batch.column("s").to_pylist())
    assert "Привет, мир" in words and "東京都" in words and "emoji 🚀🔥" in words


def test_pyarrow_gives_the_batch_back_to_sluice_unchanged(lib):
    batch = sluice_all_types(lib, 300, 7)
    arr, sch = ArrowArray(), ArrowSchema()
    batch._export_to_c(addr(arr), addr(sch))
    err = ctypes.create_string_buffer(1024)
    rc = lib.sluice_test_import_equals_all_types(ctypes.byref(arr), ctypes.byref(sch),
                                                 ctypes.c_int64(300), ctypes.c_uint64(7), err, 1024)
    assert rc == 0, err.value.decode()


def test_sliced_pyarrow_batch_is_rebased(lib):
    # A slice has a non-zero offset: sluice must copy it to offset 0 correctly.
    full = sluice_all_types(lib, 40, 9)
    sliced = full.slice(5, 20)
    back = roundtrip(lib, sliced)
    assert back.equals(sliced)


def roundtrip(lib, batch):
    a_in, s_in, a_out, s_out = ArrowArray(), ArrowSchema(), ArrowArray(), ArrowSchema()
    batch._export_to_c(addr(a_in), addr(s_in))
    err = ctypes.create_string_buffer(1024)
    rc = lib.sluice_test_roundtrip(ctypes.byref(a_in), ctypes.byref(s_in), ctypes.byref(a_out),
                                   ctypes.byref(s_out), err, 1024)
    assert rc == 0, err.value.decode()
    return pa.RecordBatch._import_from_c(addr(a_out), addr(s_out))


def test_pyarrow_built_batch_round_trips_through_sluice(lib):
    batch = pa.record_batch({
        "i": pa.array([1, None, -(2**63), 2**63 - 1], pa.int64()),
        "u": pa.array([0, 2**64 - 1, None, 5], pa.uint64()),
        "f": pa.array([1.5, float("nan"), float("-inf"), None], pa.float64()),
        "dec": pa.array([decimal.Decimal("1.000000001"), None,
                         decimal.Decimal("-99999999999999999999999999999.999999999"),
                         decimal.Decimal("0")], pa.decimal128(38, 9)),
        "b": pa.array([True, False, None, True]),
        "s": pa.array(["", None, "Привет", "😀"]),
        "bin": pa.array([b"\x00\xff", b"", None, b"abc"]),
        "d": pa.array([dt.date(1, 1, 1), dt.date(9999, 12, 31), None, dt.date(1970, 1, 1)]),
        "t": pa.array([0, 86399999999, None, 1], pa.time64("us")),
        "ts": pa.array([0, None, -1, 253402300799999999], pa.timestamp("us")),
        "tz": pa.array([0, 1, None, 2], pa.timestamp("us", tz="Europe/Moscow")),
        "id": pa.array([uuid.uuid4().bytes, None, bytes(16), b"\xff" * 16], pa.binary(16)),
    })
    # Plain fixed_size_binary(16) without the uuid extension is not a sluice type.
    with pytest.raises(AssertionError, match="fixed_size_binary|w:16|no sluice type"):
        roundtrip(lib, batch)
    uuid_field = pa.field("id", pa.binary(16), metadata={"ARROW:extension:name": "arrow.uuid",
                                                        "ARROW:extension:metadata": ""})
    fields = [uuid_field if f.name == "id" else f for f in batch.schema]
    batch = pa.RecordBatch.from_arrays(batch.columns, schema=pa.schema(fields))
    back = roundtrip(lib, batch)
    assert back.schema.field("tz").type == pa.timestamp("us", tz="Europe/Moscow")
    for name in batch.schema.names:
        assert plain(back.column(name)) == plain(batch.column(name)), name


def plain(column):
    """Python values with extension types unwrapped and NaN made comparable."""
    if isinstance(column.type, pa.ExtensionType) or hasattr(column, "storage"):
        column = column.storage
    return [("NaN" if isinstance(v, float) and v != v else v) for v in column.to_pylist()]


def test_unsupported_types_are_refused_with_the_column_name(lib):
    batch = pa.record_batch({"ok": pa.array([1]), "lst": pa.array([[1, 2]])})
    with pytest.raises(AssertionError, match="column 'lst'"):
        roundtrip(lib, batch)
