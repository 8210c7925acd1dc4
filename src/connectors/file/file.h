// file:///path/x.csv — single files as sources and sinks, plus TDTP packet
// directories (the engine behind parts:///dir?format=tdtp).
//
//   file:///abs/x.csv         CSV (RFC 4180; .tsv = CSV with a tab delimiter)
//   file:///abs/x.jsonl       JSON Lines (also .ndjson)
//   file:///abs/x.tdtp.xml    one TDTP packet (also .xml)
//   file:///abs/x.part        one sluice part (any Arrow IPC stream when reading)
//   file://rel/x.csv          a path relative to the working directory
//
// The format follows the extension unless `format=csv|jsonl|tdtp|part` says
// otherwise. Source: one split per file; CSV and JSONL are streamed in
// constant memory, .part and .tdtp.xml files are decoded whole. Sink: one
// output file (MaxWriters() == 1) written to a temp name and renamed into
// place by Commit(), so nobody sees a half-written file and a failed run
// leaves none; CSV and JSONL can also append in place, exactly once per part
// through a sidecar ledger "<file>.sluice-ledger" (docs/connectors/file.md).
//
// Thread safety: as documented on Source and Sink in connectors/connector.h.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "connectors/connector.h"

namespace sluice {

// Adds the "file" scheme (source and sink) to `registry`.
void RegisterFiles(Registry* registry);

// The option tables of file:// (one per side, shared by every format).
const OptionSpecs& FileSourceOptionSpecs();
const OptionSpecs& FileSinkOptionSpecs();

// The factories behind the registry entry; `options` parsed against the
// matching table above. No I/O happens before Open().
Result<std::unique_ptr<Source>> MakeFileSource(const Uri& uri, const Options& options);
Result<std::unique_ptr<Sink>> MakeFileSink(const Uri& uri, const Options& options);

// ---------------------------------------------------------------------------
// A directory of TDTP packets ("users_part_1_of_3.tdtp.xml", ...).
//
// Source: every *.tdtp.xml packet of one table (option `table` picks one
// when the directory holds several), in part-number order; a packet set
// whose names declare a total must be complete. One split per packet (fewer
// when the runtime asks for fewer), so packets are read in parallel.
// Sink: packets of about `max_packet_bytes` written into a hidden staging
// directory inside `dir` while the run goes on; Commit() gives each its final
// name "<table>_part_N_of_T.tdtp.xml" (or "<table>.tdtp.xml" when T == 1)
// with <TotalParts> set, each by temp file + rename.
//
// Option tables for a connector that delegates here (parts:///dir?format=tdtp):
// merge them into its own tables; a name present in both means the same thing
// (`fsync`). Options missing from `options` take the defaults listed here.
const OptionSpecs& TdtpDirectorySourceOptionSpecs();
const OptionSpecs& TdtpDirectorySinkOptionSpecs();
Result<std::unique_ptr<Source>> MakeTdtpDirectorySource(const std::string& dir,
                                                        const Options& options);
Result<std::unique_ptr<Sink>> MakeTdtpDirectorySink(const std::string& dir, const Options& options);

// ---------------------------------------------------------------------------

// The `schema=` option: comma-separated "name:type[:key][:notnull]" with the
// type names of DataType::ToString() ("id:int64:key,price:decimal(18,2),
// at:timestamptz(+03:00),note:string"). Commas and colons inside parentheses
// belong to the type; surrounding spaces are ignored.
Result<std::shared_ptr<const Schema>> ParseSchemaSpec(std::string_view text);

namespace file {

enum class FileFormat { kCsv, kJsonl, kTdtp, kPart };
std::string_view FileFormatName(FileFormat f);  // "csv", "jsonl", "tdtp", "part"

// The format for `path`: `format_option` when not empty, else by extension
// (.csv .tsv .jsonl .ndjson .tdtp.xml .xml .part). InvalidArgument naming the
// extension when it is unknown.
Result<FileFormat> ResolveFileFormat(const std::string& path, std::string_view format_option);

// The path a file:// URI names ("file:///a/b" → "/a/b", "file://rel/x" → "rel/x").
std::string PathOf(const Uri& uri);

// "<path>.sluice-ledger": the append-mode ledger of `path`.
std::string LedgerPath(const std::string& path);

}  // namespace file
}  // namespace sluice
