// A streaming query over ClickHouse's HTTP interface: the response body is
// pulled piece by piece (libcurl's multi interface, driven from the caller's
// thread) into a bounded buffer that the caller consumes from the front —
// the whole result is never held. The transfer pauses while the buffer is
// full and the caller has not asked for more.
//
// Thread safety: one ChStream per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "connectors/clickhouse/ch_http.h"

namespace sluice {

struct ChStreamOptions {
  // URL settings (max_threads, ...), besides database and compression.
  std::vector<std::pair<std::string, std::string>> settings;
  bool gzip = false;  // ask the server to compress the body (enable_http_compression)
  // Fail when no byte arrives for this long while the caller waits.
  int64_t idle_timeout_ms = 300'000;
  // Unread bytes above which the transfer pauses (the caller reads on
  // through Fill, which always lets at least one more piece in).
  size_t high_water = size_t{4} << 20;
};

class ChStream {
 public:
  // Sends `sql` (POST body) and waits for the status line and headers. A
  // status other than 200 is the server's error, mapped like ChClient's:
  // kNotFound for an unknown table or database, kInvalidArgument for
  // authentication and request errors, kRetryable for transient ones.
  // `what` names the request in errors ("reading table `db`.`t`").
  static Result<std::unique_ptr<ChStream>> Open(const ChEndpoint& endpoint, const std::string& sql,
                                                const ChStreamOptions& options, std::string what);
  ~ChStream();
  ChStream(const ChStream&) = delete;
  ChStream& operator=(const ChStream&) = delete;

  // The bytes received and not yet consumed.
  std::string_view data() const { return std::string_view(buffer_).substr(consumed_); }
  void Consume(size_t n) { consumed_ += n; }
  // Waits until more bytes arrived (data() grows) or the body ended.
  // Returns false when the body ended (no more bytes will come).
  Result<bool> Fill();
  bool finished() const { return finished_; }
  int64_t bytes_received() const { return received_; }

 private:
  ChStream() = default;
  static size_t OnData(char* data, size_t size, size_t n, void* self);
  Status Pump(bool until_headers);
  Status TransferError(int curl_code, const char* errbuf) const;
  Status HttpError() const;

  ChEndpoint endpoint_;
  std::string what_;
  ChStreamOptions options_;
  std::string url_, sql_;
  // libcurl handles (curl.h's CURL and CURLM are void), cleaned up in order.
  void* easy_ = nullptr;
  void* multi_ = nullptr;
  void* headers_ = nullptr;  // curl_slist*
  char errbuf_[256] = {0};

  std::string buffer_;  // received body bytes; consumed_ of them are used
  size_t consumed_ = 0;
  int64_t received_ = 0;
  long http_status_ = 0;
  std::string error_body_;  // the body of a non-200 answer (bounded)
  bool paused_ = false;
  bool finished_ = false;
  bool got_piece_ = false;  // a piece arrived during the current Fill
  int result_ = 0;          // CURLcode of the finished transfer
};

}  // namespace sluice
