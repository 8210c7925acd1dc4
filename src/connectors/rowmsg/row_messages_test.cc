#include "connectors/rowmsg/row_messages.h"

#include <gtest/gtest.h>

#include "connectors/file/file.h"
#include "core/testing.h"
#include "core/text.h"
#include "formats/part/part.h"

namespace sluice::rowmsg {
namespace {

std::string EncodeTestPart(const RecordBatch& batch) {
  part::PartHeader header;
  header.stream_id = "0123456789abcdef";
  header.part_number = 1;
  header.source_fingerprint = "test";
  auto bytes = part::EncodePart(&header, *batch.schema(), {batch}, {});
  EXPECT_TRUE(bytes.ok()) << bytes.status().message();
  return *bytes;
}

std::vector<std::string> RowsAsText(const std::vector<RecordBatch>& batches) {
  std::vector<std::string> out;
  for (const auto& b : batches) {
    for (int64_t r = 0; r < b.num_rows(); ++r) {
      std::string line;
      for (int c = 0; c < b.num_columns(); ++c) {
        line += (c ? "|" : "") + (b.column(c).IsNull(r) ? std::string("<null>")
                                                         : ValueToText(b.column(c), r));
      }
      out.push_back(std::move(line));
    }
  }
  return out;
}

part::DecodedPart Decode(const std::string& bytes) {
  auto d = part::DecodePart(Buffer::Copy(bytes.data(), static_cast<int64_t>(bytes.size())), "p");
  EXPECT_TRUE(d.ok()) << d.status().message();
  return std::move(*d);
}

// Every type, NULLs and extremes survive part -> one JSON object per row ->
// part, with timestamps as ISO text and as epoch numbers.
TEST(RowMessagesTest, RowsRoundTripThroughJsonMessages) {
  const RecordBatch batch = testing::AllTypesBatch(300);
  for (auto ts : {jsonl::TimestampFormat::kIso, jsonl::TimestampFormat::kEpochSeconds,
                  jsonl::TimestampFormat::kEpochMillis}) {
    RowEncoder encoder(ts);
    std::string text;
    std::vector<std::string> keys;
    int64_t messages = 0;
    ASSERT_TRUE(encoder
                    .EncodePart(EncodeTestPart(batch), "part 1",
                                [&](std::string_view json, std::string_view key) {
                                  EXPECT_EQ(json.find('\n'), std::string_view::npos);
                                  EXPECT_EQ(json.front(), '{');
                                  RowBatchDecoder::Append(json, &text);
                                  keys.emplace_back(key);
                                  ++messages;
                                  return Status::OK();
                                })
                    .ok());
    ASSERT_EQ(messages, 300);
    // The primary key column (i64) is the message key.
    EXPECT_EQ(keys[10], ValueToText(batch.column(3), 10));

    RowMessageOptions options;
    options.schema = batch.schema();
    options.timestamps = ts == jsonl::TimestampFormat::kIso ? jsonl::TimestampFormat::kEpochSeconds
                                                            : ts;
    RowBatchDecoder decoder(options);
    auto bytes = decoder.ToPart(text, {"s1", 7, "fp"}, [](int64_t n) {
      return "message " + std::to_string(n);
    });
    ASSERT_TRUE(bytes.ok()) << bytes.status().message();
    part::DecodedPart decoded = Decode(*bytes);
    EXPECT_EQ(decoded.header.part_number, 7);
    EXPECT_EQ(decoded.header.rows, 300);
    EXPECT_EQ(decoded.header.idempotency_key, part::IdempotencyKey("fp", 7));
    EXPECT_EQ(RowsAsText(decoded.batches), RowsAsText({batch}));
  }
}

TEST(RowMessagesTest, EpochNumbersAreExact) {
  std::string out;
  auto epoch = [&](int64_t micros, jsonl::TimestampFormat unit) {
    out.clear();
    jsonl::AppendEpochNumber(micros, unit, &out);
    return out;
  };
  EXPECT_EQ(epoch(1672531200000000, jsonl::TimestampFormat::kEpochSeconds), "1672531200");
  EXPECT_EQ(epoch(1672531200250000, jsonl::TimestampFormat::kEpochSeconds), "1672531200.25");
  EXPECT_EQ(epoch(1672531200000001, jsonl::TimestampFormat::kEpochSeconds), "1672531200.000001");
  EXPECT_EQ(epoch(-500000, jsonl::TimestampFormat::kEpochSeconds), "-0.5");
  EXPECT_EQ(epoch(0, jsonl::TimestampFormat::kEpochSeconds), "0");
  EXPECT_EQ(epoch(1672531200123456, jsonl::TimestampFormat::kEpochMillis), "1672531200123.456");
  EXPECT_EQ(epoch(1672531200123000, jsonl::TimestampFormat::kEpochMillis), "1672531200123");
}

// The reference 004 producer's messages: epoch float seconds from Python.
TEST(RowMessagesTest, ReadsEpochFloatsAndIsoIntoTimestamps) {
  RowMessageOptions options;
  auto schema = *ParseSchemaSpec("user:string,event:string,timestamp:timestamp");
  options.schema = schema;
  RowBatchDecoder decoder(options);
  std::string text;
  RowBatchDecoder::Append(R"({"user": "user1", "event": "login", "timestamp": 1672531200.0})", &text);
  RowBatchDecoder::Append("{\"user\": \"user2\",\n \"event\": \"logout\",\r\n \"timestamp\": "
                          "1672531201.1234567}", &text);
  RowBatchDecoder::Append(R"({"user": "u3", "event": "x", "timestamp": 1.6725312e9})", &text);
  RowBatchDecoder::Append(R"({"user": "u4", "event": "x", "timestamp": "2023-01-01T00:00:05"})",
                          &text);
  auto bytes = decoder.ToPart(text, {"s", 1, "fp"}, [](int64_t n) { return std::to_string(n); });
  ASSERT_TRUE(bytes.ok()) << bytes.status().message();
  auto rows = RowsAsText(Decode(*bytes).batches);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0], "user1|login|2023-01-01T00:00:00");
  EXPECT_EQ(rows[1], "user2|logout|2023-01-01T00:00:01.123457");
  EXPECT_EQ(rows[2], "u3|x|2023-01-01T00:00:00");
  EXPECT_EQ(rows[3], "u4|x|2023-01-01T00:00:05");
}

TEST(RowMessagesTest, ErrorsNameTheMessageAndColumn) {
  RowMessageOptions options;
  options.schema = *ParseSchemaSpec("id:int64,at:timestamp");
  RowBatchDecoder decoder(options);
  auto describe = [](int64_t n) { return "kafka: message t[0]@" + std::to_string(99 + n); };
  for (const auto& [message, expect] : std::vector<std::pair<std::string, std::string>>{
           {R"({"id": "x"})", "column 'id'"},
           {R"({"id": 1, "at": 1e300})", "not a timestamp"},
           {R"({"id": 1, "at": 99999999999999999})", "not a timestamp"},
           // 15 digits of seconds: would overflow int64 microseconds (found by rowmsg_fuzz)
           {R"({"id": 1, "at": 999999999999999.5})", "not a timestamp"},
           {R"({"id": 1, "at": -999999999999999})", "not a timestamp"},
           {R"({"id": 1, "nope": 2})", "unknown key"},
           {"", "expected a JSON object"},
           {"[1,2]", "expected a JSON object"},
           {R"({"id": 1)", "expected"}}) {
    std::string text;
    RowBatchDecoder::Append(R"({"id": 7, "at": 0})", &text);
    RowBatchDecoder::Append(message, &text);
    auto bytes = decoder.ToPart(text, {"s", 1, "fp"}, describe);
    ASSERT_FALSE(bytes.ok()) << message;
    EXPECT_NE(bytes.status().message().find("kafka: message t[0]@101"), std::string::npos)
        << bytes.status().message();
    EXPECT_NE(bytes.status().message().find(expect), std::string::npos) << bytes.status().message();
  }
}

// Without a schema the first batch decides it; later batches must match.
TEST(RowMessagesTest, InferredSchemaIsFixedByTheFirstBatch) {
  RowBatchDecoder decoder(RowMessageOptions{});
  std::string a, b;
  RowBatchDecoder::Append(R"({"id": 1, "name": "a"})", &a);
  RowBatchDecoder::Append(R"({"id": 2, "name": null})", &a);
  auto first = decoder.ToPart(a, {"s", 1, "fp"}, [](int64_t n) { return std::to_string(n); });
  ASSERT_TRUE(first.ok()) << first.status().message();
  const auto schema = Decode(*first).schema;
  ASSERT_EQ(schema->num_fields(), 2);
  EXPECT_EQ(schema->field(0).type.id, TypeId::kInt64);
  RowBatchDecoder::Append(R"({"id": 3})", &b);  // missing key: NULL
  auto second = decoder.ToPart(b, {"s", 4, "fp"}, [](int64_t n) { return std::to_string(n); });
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_TRUE(Decode(*second).schema->Equals(*schema));
  std::string c;
  RowBatchDecoder::Append(R"({"id": "not a number"})", &c);
  EXPECT_FALSE(
      decoder.ToPart(c, {"s", 5, "fp"}, [](int64_t n) { return std::to_string(n); }).ok());
}

}  // namespace
}  // namespace sluice::rowmsg
