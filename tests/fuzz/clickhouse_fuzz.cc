// Fuzzes the decoders of what a ClickHouse server sends back to the sink
// (src/connectors/clickhouse/ch_protocol.h): TabSeparated result sets,
// exception texts, version strings, X-ClickHouse-Summary headers and column
// type names from system.columns. A parsed type is then used as a write
// target for a batch of every sluice type, so that planning and RowBinary
// encoding against arbitrary (hostile) target types are exercised too.
//
// The first input byte picks the decoder; the rest is its input. Invariants
// checked: TSV rows have the requested width; a type the sink understands
// prints a name that parses back to the same kind and parameters.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "connectors/clickhouse/ch_protocol.h"
#include "connectors/clickhouse/ch_rowbinary.h"
#include "core/testing.h"

namespace {

[[noreturn]] void Fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "clickhouse_fuzz: %s: %s\n", what, detail.c_str());
  std::abort();
}

const sluice::RecordBatch& Sample() {
  static const sluice::RecordBatch batch = sluice::testing::AllTypesBatch(12);
  return batch;
}

void FuzzType(std::string_view text, uint8_t selector) {
  auto t = sluice::ParseChType(text);
  if (!t.ok()) return;
  const std::string name =
      t->kind != sluice::ChKind::kOther ? sluice::ChTypeName(*t) : std::string();
  // (Escaping control bytes of a zone name can push the printed name past
  // the parser's length limit: that one is not expected to parse again.)
  if (!name.empty() && name.size() <= sluice::kMaxChTypeBytes) {
    auto again = sluice::ParseChType(name);
    if (!again.ok()) Fail("printed type does not parse", name + ": " + again.status().ToString());
    if (again->kind != t->kind || again->nullable != t->nullable ||
        again->precision != t->precision || again->scale != t->scale ||
        again->fixed_size != t->fixed_size || again->timezone != t->timezone) {
      Fail("type changed through its name", std::string(text) + " -> " + name);
    }
  }
  // Write one source column of the sample into a column of this type.
  const sluice::RecordBatch& b = Sample();
  const int c = selector % b.num_columns();
  sluice::ChCapabilities caps;
  caps.wide_date = (selector & 0x20) != 0;
  caps.extended_range = (selector & 0x40) != 0;
  auto plan = sluice::PlanChColumn(b.schema()->field(c), *t, caps);
  if (!plan.ok()) return;
  auto schema =
      std::make_shared<const sluice::Schema>(std::vector<sluice::Field>{b.schema()->field(c)});
  sluice::RecordBatch one(schema, b.num_rows(), {b.column(c)});
  sluice::RowBinaryEncoder enc({*plan});
  std::string out;
  (void)enc.Append(one, 1, "", &out);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t selector = data[0];
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (selector % 5) {
    case 0: {
      const size_t columns = 1 + (selector >> 3) % 8;
      auto rows = sluice::ParseTsv(in, columns);
      if (rows.ok()) {
        for (const auto& r : *rows) {
          if (r.size() != columns) Fail("TSV row width", std::to_string(r.size()));
        }
      }
      break;
    }
    case 1: {
      auto e = sluice::ParseChException(in);
      if (e.message.empty()) Fail("empty exception message", std::string(in));
      (void)sluice::IsRetryableChError(e.code);
      break;
    }
    case 2:
      (void)sluice::ParseChVersion(in);
      break;
    case 3:
      (void)sluice::ParseChSummary(in);
      break;
    default:
      FuzzType(in, static_cast<uint8_t>(selector >> 3));
      break;
  }
  return 0;
}
