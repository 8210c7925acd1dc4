// The file:// option tables and registry entry.
#include "connectors/file/file.h"

namespace sluice {

const OptionSpecs& FileSourceOptionSpecs() {
  static const OptionSpecs specs = {
      {"format", OptionType::kEnum, "", "file format (default: from the extension)",
       {"csv", "jsonl", "tdtp", "part"}},
      {"schema", OptionType::kString, "",
       "CSV/JSONL: columns as name:type[:key][:notnull],... instead of inferring them"},
      {"infer_rows", OptionType::kInt, "1000", "CSV/JSONL: rows sampled to infer column types"},
      {"batch_rows", OptionType::kInt, "", "rows per batch (default: the runtime's)"},
      {"delimiter", OptionType::kString, "", "CSV: field delimiter, one character or 'tab' (default , or tab for .tsv)"},
      {"quote", OptionType::kString, "\"", "CSV: quote character"},
      {"header", OptionType::kBool, "true", "CSV: the first line holds the column names"},
      {"null", OptionType::kString, "", "CSV: an unquoted field equal to this text is NULL too (e.g. \\N)"},
      {"ignore_unknown_keys", OptionType::kBool, "false", "JSONL: skip keys that name no column"},
      {"empty_is_null", OptionType::kBool, "true",
       "TDTP: an empty cell of a field without a NULL marker is NULL (TDTP 1.0 convention)"},
      {"max_file_bytes", OptionType::kSize, "1GiB",
       ".part/.tdtp.xml: larger files are refused (they are decoded whole)"},
  };
  return specs;
}

const OptionSpecs& FileSinkOptionSpecs() {
  static const OptionSpecs specs = {
      {"format", OptionType::kEnum, "", "file format (default: from the extension)",
       {"csv", "jsonl", "tdtp", "part"}},
      {"mode", OptionType::kEnum, "create",
       "create: fail if the file exists; overwrite: replace it at commit; append: add rows (CSV, JSONL)",
       {"create", "overwrite", "append"}},
      {"delimiter", OptionType::kString, "", "CSV: field delimiter, one character or 'tab' (default , or tab for .tsv)"},
      {"quote", OptionType::kString, "\"", "CSV: quote character"},
      {"header", OptionType::kBool, "true", "CSV: write the column names first (not when appending to a non-empty file)"},
      {"null", OptionType::kString, "", "CSV: write NULL as this text (default: an empty field)"},
      {"crlf", OptionType::kBool, "false", "CSV: end lines with CRLF"},
      {"compression", OptionType::kEnum, "zstd", ".part: body compression", {"none", "lz4", "zstd"}},
      {"compression_level", OptionType::kInt, "", ".part: codec level (default 1); TDTP: zstd level (default 3)"},
      {"compress", OptionType::kBool, "false", "TDTP: zstd-compress the rows (compression=\"zstd\" packet)"},
      {"table", OptionType::kString, "", "TDTP: <TableName> (default: the file name without .tdtp.xml)"},
      {"max_part_bytes", OptionType::kSize, "1GiB", ".part: the table is held in memory up to this size"},
      {"fsync", OptionType::kBool, "false",
       "fsync the file before it is renamed into place (append: after each part and its ledger record)"},
  };
  return specs;
}

void RegisterFiles(Registry* registry) {
  ConnectorInfo info;
  info.scheme = "file";
  info.summary = "a CSV, JSONL, TDTP (.tdtp.xml) or part file (file:///path/x.csv)";
  info.source_options = FileSourceOptionSpecs();
  info.sink_options = FileSinkOptionSpecs();
  info.make_source = MakeFileSource;
  info.make_sink = MakeFileSink;
  registry->Add(std::move(info));
}

}  // namespace sluice
