"""Independent readers and a reference generator for the end-to-end tests.

Nothing here calls sluice: every output format is decoded with Python's own
modules (sqlite3, json, xml.etree, base64; pyarrow for the Arrow IPC parts
and for zstd-compressed TDTP rows) following the format documents
(docs/FORMAT*.md, docs/connectors/sqlite.md), and `gen_rows` re-implements
the gen:// connector's documented generator (splitmix64 per row) so that the
expected data does not come from the code under test either.

Every reader returns rows as tuples of *canonical values* for a list of
logical types (sluice type names as `sluice inspect` prints them):

  integers           int
  float32/float64    str: repr() of the value (float32 rounded to single), 'NaN'
  decimal(p,s)       int: the unscaled value (123.45 at scale 2 -> 12345)
  bool               bool
  string             str
  binary             bytes
  date               int: days since 1970-01-01
  time               int: microseconds since midnight
  timestamp(tz)      int: microseconds since 1970-01-01T00:00:00 (UTC)
  uuid               str: 32 lower-case hex digits
  json               nested tuples, numbers kept as their token text
"""

import base64
import datetime
import decimal
import hashlib
import json
import re
import sqlite3
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

# ---------------------------------------------------------------------------
# schemas


MIXED = [
    ("id", "int64"), ("name", "string"), ("amount", "decimal(18,2)"),
    ("created_at", "timestamptz(UTC)"), ("active", "bool"), ("score", "float64"),
    ("birthday", "date"), ("payload", "binary"), ("city", "string"), ("qty", "int32"),
]
MIXED_KEY = "id"
MIXED_NOT_NULL = {"id", "active", "birthday", "city", "qty"}

ALL_TYPES = [
    ("i8", "int8"), ("i16", "int16"), ("i32", "int32"), ("i64", "int64"), ("u8", "uint8"),
    ("u16", "uint16"), ("u32", "uint32"), ("u64", "uint64"), ("f32", "float32"),
    ("f64", "float64"), ("dec38", "decimal(38,9)"), ("dec18", "decimal(18,2)"), ("b", "bool"),
    ("s", "string"), ("bin", "binary"), ("d", "date"), ("t", "time"), ("ts", "timestamp"),
    ("tstz", "timestamptz(UTC)"), ("uuid", "uuid"), ("js", "json"),
]
ALL_TYPES_KEY = "i64"
ALL_TYPES_NOT_NULL = {"i64"}

SCHEMAS = {
    "mixed": (MIXED, MIXED_KEY, MIXED_NOT_NULL),
    "all_types": (ALL_TYPES, ALL_TYPES_KEY, ALL_TYPES_NOT_NULL),
}


def schema_spec(schema_name):
    """The file:// `schema=` option text for a gen schema (name:type[:key][:notnull])."""
    cols, key, not_null = SCHEMAS[schema_name]
    out = []
    for name, t in cols:
        s = f"{name}:{t}"
        if name == key:
            s += ":key"
        if name in not_null:
            s += ":notnull"
        out.append(s)
    return ",".join(out)


def key_index(schema_name):
    cols, key, _ = SCHEMAS[schema_name]
    return [c for c, _ in cols].index(key)


def decimal_scale(t):
    m = re.fullmatch(r"decimal\((\d+),(\d+)\)", t)
    return int(m.group(2)) if m else None


# ---------------------------------------------------------------------------
# the reference generator (src/connectors/gen/gen.cc, re-implemented)

M64 = (1 << 64) - 1
MICROS_PER_SECOND = 1_000_000
MICROS_PER_DAY = 86_400 * MICROS_PER_SECOND
MIN_DATE = -719162   # 0001-01-01
MAX_DATE = 2932896   # 9999-12-31


class _Rng:
    __slots__ = ("s",)

    def __init__(self, s):
        self.s = s & M64

    def next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & M64
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)

    def range(self, lo, hi):
        return lo + self.next() % (hi - lo + 1)


def _row_rng(seed, row):
    r = _Rng(((seed * 0xD1B54A32D192ED03) & M64) ^ ((row * 0x9E3779B97F4A7C15) & M64))
    r.next()
    return r


def _signed(v, bits):
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


WORDS = ["alpha", "Привет, мир", "東京都", "emoji 🚀🔥", "with|pipe", 'quote"inside',
         "comma,and\nnewline", "tab\there", "back\\slash", "<xml&amp;>", "Ünïcödé", "plain"]
CITIES = ["Moscow", "Санкт-Петербург", "Omsk", "東京", "Berlin", "São Paulo", "Kazan",
          "New York"]


def _gen_mixed(seed, i):
    rng = _row_rng(seed, i)
    name = None if i % 50 == 7 else f"user_{i}"
    amount = rng.range(-10000000, 100000000)
    # created_at = base + Range(0, 2e8) s + Range(0, 999999) us, operands evaluated left to right.
    secs = rng.range(0, 200000000)
    micros = rng.range(0, 999999)
    created = 1600000000 * MICROS_PER_SECOND + secs * MICROS_PER_SECOND + micros
    active = rng.next() % 3 != 0
    score = None if i % 20 == 3 else canon_float(rng.range(0, 10000000) / 1000.0, False)
    birthday = rng.range(-10000, 15000)
    payload = None if i % 10 == 1 else bytes(rng.next() & 0xFF for _ in range(16))
    city = CITIES[rng.next() % len(CITIES)]
    qty = rng.range(0, 1000)
    return (i, name, amount, created, active, score, birthday, payload, city, qty)


def _gen_all_types(seed, r):
    rng = _row_rng(seed, r)
    kind = r if r < 3 else 3
    nulls = kind == 3 and r % 7 == 3

    def pick(mx, mn, zero, rnd):
        return (mx, mn, zero, rnd)[kind]

    if nulls:
        out = [None] * 21
        out[3] = r * 1000 + 17
        return tuple(out)
    out = []
    out.append(pick(127, -128, 0, _signed(rng.next(), 8)))
    out.append(pick(32767, -32768, 0, _signed(rng.next(), 16)))
    out.append(pick(2**31 - 1, -2**31, 0, _signed(rng.next(), 32)))
    out.append(pick(2**63 - 1, -2**63, 0, r * 1000 + 17))
    out.append(pick(255, 0, 0, rng.next() & 0xFF))
    out.append(pick(65535, 0, 0, rng.next() & 0xFFFF))
    out.append(pick(2**32 - 1, 0, 0, rng.next() & 0xFFFFFFFF))
    out.append(pick(2**64 - 1, 0, 0, rng.next()))
    out.append(canon_float(pick(float("inf"), float("-inf"), float("nan"),
                                _f32(rng.range(-1000000, 1000000)) / 64.0), True))
    v = pick(1.7976931348623157e308, -1.7976931348623157e308, float("nan"),
             rng.range(-1000000000, 1000000000) / 1024.0 + 0.1)
    if kind == 3 and r % 11 == 5:
        v = float("-inf")
    out.append(canon_float(v, False))
    a = rng.next() % 1000000000000
    b = rng.next() % 1000000000
    sign = 1 if rng.next() % 2 else -1
    dec38max = 10**38 - 1
    out.append(pick(dec38max, -dec38max, 0, (a * 1000000000 + b) * sign))
    dec18max = 10**18 - 1
    out.append(pick(dec18max, -dec18max, 0, rng.range(-10000000, 10000000)))
    out.append(kind == 0 or (kind == 3 and rng.next() % 2 == 1))
    out.append("" if kind == 2 else WORDS[r % len(WORDS)])
    if kind == 2:
        out.append(b"")
    else:
        n = rng.range(1, 24)
        out.append(bytes(rng.next() & 0xFF for _ in range(n)))
    out.append(pick(MAX_DATE, MIN_DATE, 0, rng.range(-30000, 30000)))
    out.append(pick(MICROS_PER_DAY - 1, 0, 0, rng.range(0, MICROS_PER_DAY - 1)))
    secs = rng.range(-2000000000, 4000000000)
    micros = rng.range(0, 999999)
    out.append(pick(MAX_DATE * MICROS_PER_DAY + MICROS_PER_DAY - 1, MIN_DATE * MICROS_PER_DAY, 0,
                    secs * MICROS_PER_SECOND + micros))
    out.append(pick(MAX_DATE * MICROS_PER_DAY, MIN_DATE * MICROS_PER_DAY, 0,
                    rng.range(0, 2000000000) * MICROS_PER_SECOND))
    out.append(bytes(16).hex() if kind == 2 else bytes(rng.next() & 0xFF for _ in range(16)).hex())
    out.append(canon_json("{}" if kind == 2 else '{"k":%d,"s":"Юникод"}' % r))
    return tuple(out)


def gen_rows(schema_name, rows, seed=1):
    """The rows gen:///?rows=N&seed=S&schema=... produces, canonical, in id order."""
    f = {"mixed": _gen_mixed, "all_types": _gen_all_types}[schema_name]
    return [f(seed, i) for i in range(rows)]


# ---------------------------------------------------------------------------
# canonical values from text


class JNum(str):
    """A JSON number token, kept as written."""


class JObj(tuple):
    """A JSON object: its (key, value) pairs in order."""


def _freeze(v):
    if isinstance(v, JObj):
        return ("obj", tuple((k, _freeze(x)) for k, x in v))
    if isinstance(v, list):
        return ("arr", tuple(_freeze(x) for x in v))
    if isinstance(v, JNum):
        return ("num", str(v))
    return v


def _reject_constant(name):
    raise ValueError(f"non-standard JSON constant {name}")


def json_loads(text):
    return json.loads(text, parse_int=JNum, parse_float=JNum, parse_constant=_reject_constant,
                      object_pairs_hook=JObj)


def canon_json(text):
    return _freeze(json_loads(text))


def canon_float(x, single):
    if x != x:
        return "NaN"
    if single:
        x = _f32(x)
    return repr(float(x))


_SPECIAL_FLOATS = {"nan": float("nan"), "infinity": float("inf"), "-infinity": float("-inf"),
                   "inf": float("inf"), "-inf": float("-inf"), "+inf": float("inf"),
                   "+infinity": float("inf")}
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_TIME = re.compile(r"(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?")
_TS = re.compile(r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
                 r"(Z|[+-]\d{2}(?::?\d{2})?)?")
_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()


def _days(y, m, d):
    return datetime.date(int(y), int(m), int(d)).toordinal() - _EPOCH_ORDINAL


def _frac_micros(f):
    return int((f or "").ljust(6, "0")[:6])


def parse_date(text):
    m = _DATE.fullmatch(text)
    if not m:
        raise ValueError(f"bad date {text!r}")
    return _days(*m.groups())


def parse_time(text):
    m = _TIME.fullmatch(text)
    if not m:
        raise ValueError(f"bad time {text!r}")
    h, mi, s, f = m.groups()
    return ((int(h) * 60 + int(mi)) * 60 + int(s)) * MICROS_PER_SECOND + _frac_micros(f)


def parse_timestamp(text):
    m = _TS.fullmatch(text)
    if not m:
        raise ValueError(f"bad timestamp {text!r}")
    y, mo, d, h, mi, s, f, off = m.groups()
    v = _days(y, mo, d) * MICROS_PER_DAY + ((int(h) * 60 + int(mi)) * 60 + int(s)) * \
        MICROS_PER_SECOND + _frac_micros(f)
    if off and off != "Z":
        sign = -1 if off[0] == "-" else 1
        digits = off[1:].replace(":", "")
        minutes = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) > 2 else 0)
        v -= sign * minutes * 60 * MICROS_PER_SECOND
    return v


def parse_decimal(text, scale):
    d = decimal.Decimal(text)
    if not d.is_finite():
        raise ValueError(f"bad decimal {text!r}")
    v = d.scaleb(scale, decimal.Context(prec=80))
    if v != v.to_integral_value():
        raise ValueError(f"decimal {text!r} has more than {scale} fraction digits")
    return int(v)


def parse_uuid(text):
    if not re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", text):
        raise ValueError(f"bad uuid text {text!r}")
    return text.replace("-", "")


def parse_float(text, single):
    special = _SPECIAL_FLOATS.get(text.lower())
    return canon_float(special if special is not None else float(text), single)


_INT = re.compile(r"-?\d+")


def canon_text(t, text, bool_digits=False):
    """The canonical value of `text`, the canonical text form of a value of type t."""
    if t.startswith("int") or t.startswith("uint"):
        if not _INT.fullmatch(text):
            raise ValueError(f"bad integer {text!r}")
        return int(text)
    if t in ("float32", "float64"):
        return parse_float(text, t == "float32")
    scale = decimal_scale(t)
    if scale is not None:
        return parse_decimal(text, scale)
    if t == "bool":
        table = {"true": True, "false": False}
        if bool_digits:
            table.update({"1": True, "0": False})
        if text not in table:
            raise ValueError(f"bad bool {text!r}")
        return table[text]
    if t == "string":
        return text
    if t == "binary":
        return base64.b64decode(text, validate=True)
    if t == "date":
        return parse_date(text)
    if t == "time":
        return parse_time(text)
    if t.startswith("timestamp"):
        return parse_timestamp(text)
    if t == "uuid":
        return parse_uuid(text)
    if t == "json":
        return canon_json(text)
    raise ValueError(f"unknown type {t}")


# ---------------------------------------------------------------------------
# SQLite (the sink's storage rules, docs/connectors/sqlite.md)


def sqlite_value(t, v):
    if v is None:
        return None
    if t.startswith("int") or t.startswith("uint"):
        if isinstance(v, bytes) and t == "uint64":
            return int(v.decode("ascii"))  # above 2^63-1: a BLOB of decimal digits
        if not isinstance(v, int):
            raise ValueError(f"{t}: stored as {type(v).__name__} {v!r}")
        return v
    if t in ("float32", "float64"):
        if isinstance(v, str) and v == "NaN":
            return "NaN"
        if isinstance(v, bytes) and v == b"-0":
            return canon_float(-0.0, False)
        if not isinstance(v, (int, float)):
            raise ValueError(f"{t}: stored as {type(v).__name__} {v!r}")
        return canon_float(float(v), t == "float32")
    scale = decimal_scale(t)
    if scale is not None:
        if isinstance(v, int):
            return v * 10**scale
        if isinstance(v, float):
            return parse_decimal(repr(v), scale)
        if isinstance(v, bytes):
            return parse_decimal(v.decode("ascii"), scale)
        raise ValueError(f"{t}: stored as {type(v).__name__} {v!r}")
    if t == "bool":
        if v not in (0, 1) or not isinstance(v, int):
            raise ValueError(f"bool stored as {v!r}")
        return bool(v)
    if t == "binary":
        if not isinstance(v, bytes):
            raise ValueError(f"binary stored as {type(v).__name__}")
        return v
    if not isinstance(v, str):
        raise ValueError(f"{t}: stored as {type(v).__name__} {v!r}")
    return canon_text(t, v)


def read_sqlite(db, table, types, order_by=None):
    """Rows of `table` (all columns, declared order) as canonical tuples."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        cols = [r[1] for r in con.execute("SELECT * FROM pragma_table_info(?)", (table,))]
        q = 'SELECT * FROM "%s"' % table.replace('"', '""')
        if order_by:
            q += ' ORDER BY "%s"' % order_by
        raw = con.execute(q).fetchall()
    finally:
        con.close()
    if len(cols) != len(types):
        raise ValueError(f"{db}: table {table} has columns {cols}, expected {len(types)}")
    return cols, [tuple(sqlite_value(t, v) for t, v in zip(types, row)) for row in raw]


def sqlite_declared_types(db, table):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [(r[1], r[2], r[3], r[5]) for r in
                con.execute("SELECT * FROM pragma_table_info(?)", (table,))]
    finally:
        con.close()


def sqlite_checksum(db, table, order_by):
    """(rows, distinct keys, sha256 over the ordered rows' stored values)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        h = hashlib.sha256()
        n = 0
        for row in con.execute(f'SELECT * FROM "{table}" ORDER BY "{order_by}"'):
            h.update(repr(row).encode())
            n += 1
        distinct = con.execute(f'SELECT count(DISTINCT "{order_by}") FROM "{table}"').fetchone()[0]
        return n, distinct, h.hexdigest()
    finally:
        con.close()


# ---------------------------------------------------------------------------
# CSV (RFC 4180; unquoted empty = NULL, quoted empty = "")


def parse_csv_records(text):
    """Records as lists of (text, quoted) fields."""
    records, fields = [], []
    i, n = 0, len(text)
    field, quoted, at_start = [], False, True
    while i < n:
        c = text[i]
        if at_start and c == '"':
            quoted, at_start = True, False
            i += 1
            while True:
                j = text.find('"', i)
                if j < 0:
                    raise ValueError("unterminated quoted field")
                field.append(text[i:j])
                if j + 1 < n and text[j + 1] == '"':
                    field.append('"')
                    i = j + 2
                    continue
                i = j + 1
                break
            if i < n and text[i] not in ",\r\n":
                raise ValueError(f"character after closing quote at {i}")
            continue
        if c == ",":
            fields.append(("".join(field), quoted))
            field, quoted, at_start = [], False, True
            i += 1
            continue
        if c in "\r\n":
            fields.append(("".join(field), quoted))
            records.append(fields)
            fields, field, quoted, at_start = [], [], False, True
            i += 2 if c == "\r" and i + 1 < n and text[i + 1] == "\n" else 1
            continue
        at_start = False
        j = i
        while j < n and text[j] not in ',\r\n"':
            j += 1
        if j == i:  # a literal quote inside an unquoted field
            j = i + 1
        field.append(text[i:j])
        i = j
    if field or fields or quoted or not at_start:
        fields.append(("".join(field), quoted))
        records.append(fields)
    return records


def read_csv(path, types, header=True):
    text = Path(path).read_bytes().decode("utf-8")
    records = parse_csv_records(text)
    if len(types) > 1:
        records = [r for r in records if r != [("", False)]]
    names = None
    if header:
        if not records:
            raise ValueError(f"{path}: no header")
        names = [t for t, _ in records[0]]
        records = records[1:]
    rows = []
    for rec in records:
        if len(rec) != len(types):
            raise ValueError(f"{path}: record with {len(rec)} fields: {rec}")
        row = []
        for t, (text_, quoted) in zip(types, rec):
            if text_ == "" and not quoted:
                row.append(None)
            elif text_ == "" and t not in ("string", "binary", "json"):
                row.append(None)
            else:
                row.append(canon_text(t, text_))
        rows.append(tuple(row))
    return names, rows


# ---------------------------------------------------------------------------
# JSON Lines


def _json_value(t, v):
    if v is None:
        return None
    if t == "json":
        return _freeze(v)
    if t.startswith("int") or t.startswith("uint"):
        if not isinstance(v, JNum) or not _INT.fullmatch(v):
            raise ValueError(f"{t}: {v!r} is not an integer number")
        return int(v)
    if t in ("float32", "float64"):
        if isinstance(v, JNum):
            return canon_float(float(v), t == "float32")
        if v in ("NaN", "Infinity", "-Infinity"):
            return parse_float(v, t == "float32")
        raise ValueError(f"{t}: {v!r}")
    if t == "bool":
        if not isinstance(v, bool):
            raise ValueError(f"bool: {v!r}")
        return v
    if not isinstance(v, str) or isinstance(v, JNum):
        raise ValueError(f"{t}: expected a string, got {v!r}")
    return canon_text(t, v)


def read_jsonl(path, names, types):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            obj = json_loads(line)
            if not isinstance(obj, JObj):
                raise ValueError(f"{path}: line is not an object")
            keys = [k for k, _ in obj]
            if keys != names:
                raise ValueError(f"{path}: keys {keys} != {names}")
            rows.append(tuple(_json_value(t, v) for t, (_, v) in zip(types, obj)))
    return rows


# ---------------------------------------------------------------------------
# TDTP (docs/FORMAT.md (TDTP section)), parsed with xml.etree


def _local(tag):
    return tag.rsplit("}", 1)[-1]


def _tdtp_split(row):
    """A row's cells: split on unescaped '|', then \\x -> x and \\n -> LF."""
    cells, cur, i, n = [], [], 0, len(row)
    while i < n:
        c = row[i]
        if c == "\\":
            if i + 1 < n:
                nxt = row[i + 1]
                cur.append("\n" if nxt == "n" else nxt)
                i += 2
            else:
                cur.append("\\")  # a lone trailing backslash is kept
                i += 1
        elif c == "|":
            cells.append("".join(cur))
            cur = []
            i += 1
        else:
            cur.append(c)
            i += 1
    cells.append("".join(cur))
    return cells


def tdtp_logical_type(field):
    """The sluice type a TDTP <Field> maps to (docs/FORMAT.md (TDTP section), Type mapping)."""
    typ = field.get("type", "").upper()
    sub = (field.get("subtype") or "").lower()
    if typ in ("INTEGER", "INT"):
        return {"sluice.int8": "int8", "smallint": "int16", "int": "int32", "tinyint": "uint8",
                "sluice.uint16": "uint16", "sluice.uint32": "uint32",
                "sluice.uint64": "uint64"}.get(sub, "int64")
    if typ in ("REAL", "FLOAT", "DOUBLE"):
        return "float32" if sub == "real" else "float64"
    if typ in ("DECIMAL", "NUMERIC"):
        p = field.get("precision")
        s = field.get("scale")
        if sub == "sluice.uint64" and (s or "0") == "0":
            return "uint64"
        if p is None and s is None:
            return "decimal(18,2)"
        return f"decimal({int(p)},{int(s or 0)})"
    if typ in ("TEXT", "VARCHAR", "CHAR", "STRING"):
        if sub in ("uuid", "uniqueidentifier"):
            return "uuid"
        if sub in ("json", "jsonb"):
            return "json"
        return "string"
    if typ in ("BOOLEAN", "BOOL"):
        return "bool"
    if typ == "DATE":
        return "date"
    if typ == "TIME":
        return "time"
    if typ in ("TIMESTAMP", "DATETIME"):
        if sub == "time":
            return "time"
        if field.get("timezone") or sub in ("timestamptz", "datetimeoffset"):
            return "timestamptz(%s)" % (field.get("timezone") or "UTC")
        return "timestamp"
    if typ == "BLOB":
        return "binary"
    return "string"


def _zstd_decompress(data):
    import pyarrow as pa

    with pa.CompressedInputStream(pa.BufferReader(data), "zstd") as stream:
        return stream.read()


def read_tdtp(path):
    """One packet: (header dict, [(name, type, key)], rows of canonical values)."""
    root = ET.parse(path).getroot()
    if root.get("protocol") != "TDTP":
        raise ValueError(f"{path}: not a TDTP packet")
    header, fields, data = {}, [], None
    for child in root:
        tag = _local(child.tag)
        if tag == "Header":
            header = {_local(h.tag): (h.text or "") for h in child}
        elif tag == "Schema":
            fields = [f for f in child if _local(f.tag) == "Field"]
        elif tag == "Data":
            data = child
    schema, rules = [], []
    for f in fields:
        t = tdtp_logical_type(f)
        markers = {}
        for sv in f.iter():
            if _local(sv.tag) in ("Null", "NaN", "Infinity", "NegInfinity", "NoDate"):
                markers[_local(sv.tag)] = sv.get("marker")
        schema.append((f.get("name"), t, f.get("key") == "true"))
        rules.append((t, markers))
    rows_text = []
    if data is not None:
        r_elems = [r for r in data if _local(r.tag) == "R"]
        if data.get("compression") == "zstd":
            payload = base64.b64decode("".join((r.text or "") for r in r_elems).strip())
            rows_text = _zstd_decompress(payload).decode("utf-8").split("\n")
        elif data.get("compression") in (None, "", "none"):
            rows_text = [r.text or "" for r in r_elems]
        else:
            raise ValueError(f"{path}: compression {data.get('compression')}")
    rows = []
    for rt in rows_text:
        cells = _tdtp_split(rt)
        if len(cells) != len(schema):
            raise ValueError(f"{path}: row {rt!r} has {len(cells)} cells")
        rows.append(tuple(_tdtp_value(t, m, c) for (t, m), c in zip(rules, cells)))
    if header.get("RecordsInPart") not in (None, "", "0") and int(header["RecordsInPart"]) != len(rows):
        raise ValueError(f"{path}: RecordsInPart {header['RecordsInPart']} != {len(rows)} rows")
    return header, schema, rows


def _tdtp_value(t, markers, cell):
    null_marker = markers.get("Null")
    if cell == (null_marker if null_marker is not None else "[NULL]"):
        return None
    textual = t in ("string", "json", "binary", "uuid")
    if cell == "":
        if not textual or null_marker is None:
            return None
        return "" if t == "string" else canon_text(t, cell)
    if t in ("date",) or t.startswith("timestamp"):
        if cell == markers.get("NoDate", "0000-00-00"):
            return None
        if t == "date" and "T" in cell:  # an RFC 3339 timestamp keeps its date part
            cell = cell.split("T", 1)[0]
    if t in ("float32", "float64"):
        for name, value in (("NaN", float("nan")), ("Infinity", float("inf")),
                            ("NegInfinity", float("-inf"))):
            if markers.get(name) is not None and cell == markers[name]:
                return canon_float(value, t == "float32")
        return parse_float(cell, t == "float32")
    return canon_text(t, cell, bool_digits=True)


def read_tdtp_dir(d):
    """Every packet of a directory, in part-number order: (headers, schema, rows)."""
    files = sorted(Path(d).glob("*.tdtp.xml"))
    packets = [read_tdtp(p) for p in files]
    packets.sort(key=lambda p: int(p[0].get("PartNumber") or 1))
    schema = packets[0][1] if packets else []
    rows = []
    for h, s, r in packets:
        if s != schema:
            raise ValueError(f"{d}: packets with different schemas")
        rows.extend(r)
    return [p[0] for p in packets], schema, rows


# ---------------------------------------------------------------------------
# parts (Arrow IPC streams, read with pyarrow)


def read_part(path):
    """(sluice header dict, pyarrow.Table) of one part file."""
    import pyarrow as pa

    with pa.ipc.open_stream(pa.BufferReader(Path(path).read_bytes())) as reader:
        table = reader.read_all()
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    return meta, table


def arrow_type_name(field):
    """The sluice type name of an Arrow field (docs/FORMAT.md, Type mapping)."""
    import pyarrow as pa
    import pyarrow.types as at

    t = field.type
    ext = (field.metadata or {}).get(b"ARROW:extension:name")
    if isinstance(t, pa.BaseExtensionType):
        ext = t.extension_name.encode()
        t = t.storage_type
    if ext == b"arrow.uuid" and at.is_fixed_size_binary(t) and t.byte_width == 16:
        return "uuid"
    if ext == b"arrow.json" and at.is_string(t):
        return "json"
    if at.is_integer(t):
        return ("int" if at.is_signed_integer(t) else "uint") + str(t.bit_width)
    if at.is_float32(t):
        return "float32"
    if at.is_float64(t):
        return "float64"
    if at.is_decimal128(t):
        return f"decimal({t.precision},{t.scale})"
    if at.is_boolean(t):
        return "bool"
    if at.is_string(t):
        return "string"
    if at.is_binary(t):
        return "binary"
    if at.is_date32(t):
        return "date"
    if at.is_time64(t) and t.unit == "us":
        return "time"
    if at.is_timestamp(t) and t.unit == "us":
        return f"timestamptz({t.tz})" if t.tz else "timestamp"
    return f"unsupported:{t}"


def arrow_columns(table, types):
    """Canonical rows of a pyarrow Table whose columns have the logical types `types`."""
    import pyarrow as pa

    cols = []
    for arr, t in zip(table.columns, types):
        arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
        if isinstance(arr.type, pa.BaseExtensionType):
            arr = arr.storage
        if t in ("date",):
            vals = arr.view(pa.int32()).to_pylist()
        elif t in ("time",) or t.startswith("timestamp"):
            vals = arr.view(pa.int64()).to_pylist()
        elif t in ("float32", "float64"):
            vals = [None if v is None else canon_float(v, t == "float32") for v in arr.to_pylist()]
        elif decimal_scale(t) is not None:
            s = decimal_scale(t)
            vals = [None if v is None else parse_decimal(format(v, "f"), s) for v in arr.to_pylist()]
        elif t == "uuid":
            vals = [None if v is None else v.hex() for v in arr.to_pylist()]
        elif t == "json":
            vals = [None if v is None else canon_json(v) for v in arr.to_pylist()]
        else:
            vals = arr.to_pylist()
        cols.append(vals)
    return list(zip(*cols)) if cols else []


def read_parts_dir(d):
    """Data parts of a parts directory (end parts separately): (metas, schema, table)."""
    import pyarrow as pa

    data, ends, tables = [], [], []
    for p in sorted(Path(d).iterdir()):
        if not p.name.endswith(".part"):
            continue
        meta, table = read_part(p)
        (ends if meta.get("sluice.kind") == "end" else data).append(meta)
        if meta.get("sluice.kind") != "end":
            tables.append(table)
    table = pa.concat_tables(tables) if tables else None
    return data, ends, table


def sort_rows(rows, key_col):
    return sorted(rows, key=lambda r: r[key_col])
