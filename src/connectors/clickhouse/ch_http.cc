#include "connectors/clickhouse/ch_http.h"

#include <curl/curl.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>

#include "core/log.h"

namespace sluice {

namespace {

// libcurl's global state is set up once per process, before any handle.
bool CurlGlobalInit() {
  static std::once_flag once;
  static CURLcode rc = CURLE_OK;
  std::call_once(once, [] { rc = curl_global_init(CURL_GLOBAL_DEFAULT); });
  return rc == CURLE_OK;
}

size_t WriteBody(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

size_t WriteHeader(char* data, size_t size, size_t n, void* user) {
  std::string_view line(data, size * n);
  constexpr std::string_view kSummary = "x-clickhouse-summary:";
  if (line.size() > kSummary.size()) {
    bool match = true;
    for (size_t i = 0; i < kSummary.size() && match; ++i) {
      match = std::tolower(static_cast<unsigned char>(line[i])) == kSummary[i];
    }
    if (match) {
      std::string_view v = line.substr(kSummary.size());
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' '))
        v.remove_suffix(1);
      static_cast<ChResponse*>(user)->summary = std::string(v);
    }
  }
  return size * n;
}

// Feeds a ChBodySource to libcurl (CURLOPT_READFUNCTION), gzip'd on the
// way when asked.
struct BodyReader {
  ChBodySource* source = nullptr;
  GzipStream* gzip = nullptr;
  std::string raw, buf;  // a piece as made, and as sent
  size_t pos = 0;        // sent of buf
  bool done = false;
  Status error;          // why the body was cut
};

size_t ReadBody(char* dst, size_t size, size_t n, void* user) {
  auto* b = static_cast<BodyReader*>(user);
  while (b->pos == b->buf.size()) {
    if (b->done) return 0;
    b->buf.clear();
    b->pos = 0;
    std::string* piece = b->gzip ? &b->raw : &b->buf;
    piece->clear();
    Result<bool> more = b->source->Next(piece);
    if (!more.ok()) {
      b->error = more.status();
      return CURL_READFUNC_ABORT;
    }
    b->done = !*more;
    if (b->gzip) {
      Status st = b->gzip->Add(b->raw, b->done, &b->buf);
      if (!st.ok()) {
        b->error = std::move(st);
        return CURL_READFUNC_ABORT;
      }
    }
  }
  const size_t k = std::min(size * n, b->buf.size() - b->pos);
  std::memcpy(dst, b->buf.data() + b->pos, k);
  b->pos += k;
  return k;
}

// curl_slist, freed on scope exit.
struct HeaderList {
  curl_slist* list = nullptr;
  ~HeaderList() { curl_slist_free_all(list); }
  void Add(const char* h) { list = curl_slist_append(list, h); }
};

bool IsAuthError(int code) {
  return code == ch_error::kUnknownUser || code == ch_error::kWrongPassword ||
         code == ch_error::kRequiredPassword || code == ch_error::kAuthenticationFailed;
}

// Errors in the request itself: the same request fails again.
bool IsRequestError(int code) {
  switch (code) {
    case 16:   // NO_SUCH_COLUMN_IN_TABLE
    case 36:   // BAD_ARGUMENTS
    case 43:   // ILLEGAL_TYPE_OF_ARGUMENT
    case 44:   // ILLEGAL_COLUMN
    case 47:   // UNKNOWN_IDENTIFIER
    case 50:   // UNKNOWN_TYPE
    case 53:   // TYPE_MISMATCH
    case 62:   // SYNTAX_ERROR
    case 115:  // UNKNOWN_SETTING
      return true;
    default:
      return false;
  }
}

}  // namespace

Result<ChEndpoint> ChEndpoint::FromUri(const Uri& uri) {
  ChEndpoint e;
  if (!uri.host.empty()) e.host = uri.host;
  if (uri.port != 0) e.port = uri.port;
  if (!uri.user.empty()) e.user = uri.user;
  e.password = uri.password;
  std::string db = uri.path;
  while (!db.empty() && db.front() == '/') db.erase(0, 1);
  if (db.find('/') != std::string::npos) {
    return Status::InvalidArgument("clickhouse: the URI path must be just the database name: " +
                                   uri.Redacted());
  }
  if (!db.empty()) e.database = db;
  return e;
}

Result<std::unique_ptr<ChClient>> ChClient::Make(ChEndpoint endpoint) {
  if (!CurlGlobalInit()) return Status::Internal("clickhouse: curl_global_init failed");
  std::unique_ptr<ChClient> c(new ChClient(std::move(endpoint)));
  c->curl_ = std::unique_ptr<void, void (*)(void*)>(curl_easy_init(),
                                                    [](void* h) { curl_easy_cleanup(h); });
  if (!c->curl_) return Status::Internal("clickhouse: curl_easy_init failed");
  return c;
}

std::string ChClient::Url(const ChRequest& request) const {
  CURL* curl = curl_.get();
  std::string url = "http://" + endpoint_.host + ":" + std::to_string(endpoint_.port) + "/?";
  std::string sep;
  auto add = [&](std::string_view k, std::string_view v) {
    url += sep;
    url += ChUrlEscape(curl, k);
    url += '=';
    url += ChUrlEscape(curl, v);
    sep = "&";
  };
  if (request.use_database) add("database", endpoint_.database);
  if (!request.data.empty() || request.body != nullptr) add("query", request.sql);
  if (!request.query_id.empty()) add("query_id", request.query_id);
  for (const auto& [k, v] : request.settings) add(k, v);
  return url;
}

Result<ChResponse> ChClient::ExecuteOnce(const ChRequest& request, std::string_view what) {
  CURL* curl = curl_.get();
  ChResponse resp;
  char errbuf[CURL_ERROR_SIZE] = {0};
  const std::string url = Url(request);
  const std::string_view body = request.data.empty() ? std::string_view(request.sql) : request.data;
  HeaderList headers;
  // No "Expect: 100-continue" round trip before a large body.
  headers.Add("Expect:");
  if (request.gzip) headers.Add("Content-Encoding: gzip");
  headers.Add("Content-Type: application/octet-stream");
  BodyReader reader;
  std::optional<GzipStream> gzip;
  if (request.body != nullptr) {
    headers.Add("Transfer-Encoding: chunked");
    request.body->Rewind();
    reader.source = request.body;
    if (request.gzip) {
      gzip.emplace(request.gzip_level);
      SLUICE_RETURN_NOT_OK(gzip->Reset());
      reader.gzip = &*gzip;
    }
  }

  curl_easy_reset(curl);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  if (request.body != nullptr) {
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, ReadBody);
    curl_easy_setopt(curl, CURLOPT_READDATA, &reader);
    curl_easy_setopt(curl, CURLOPT_UPLOAD_BUFFERSIZE, 256L << 10);
  } else {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.list);
  curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
  curl_easy_setopt(curl, CURLOPT_USERNAME, endpoint_.user.c_str());
  curl_easy_setopt(curl, CURLOPT_PASSWORD, endpoint_.password.c_str());
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(endpoint_.connect_timeout_ms));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(endpoint_.request_timeout_ms));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  if (!request.idempotent) {
    // libcurl sends a request again, once, when a kept-alive connection
    // breaks before any answer; the server may have executed the first one
    // (an INSERT whose answer was lost would land twice). On a fresh
    // connection it never does.
    curl_easy_setopt(curl, CURLOPT_FRESH_CONNECT, 1L);
  }
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, WriteHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &resp);

  const std::string where = "clickhouse " + endpoint_.Address() + ": " + std::string(what);
  const CURLcode rc = curl_easy_perform(curl);
  // The body was cut by its own error (a value the column cannot hold):
  // that is the answer, not the transport's.
  if (rc == CURLE_ABORTED_BY_CALLBACK && !reader.error.ok()) return reader.error;
  if (rc != CURLE_OK) {
    std::string detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST) {
      return Status::Retryable(where + ": cannot connect to " + endpoint_.Address() + " (" +
                               detail + ")");
    }
    return Status::Retryable(where + ": request failed, the server's answer was lost (" + detail +
                             ")");
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp.http_status);
  if (resp.http_status == 200) return resp;

  return ChHttpError(endpoint_, where, resp.http_status, resp.body);
}

Status ChHttpError(const ChEndpoint& endpoint, const std::string& where, long http_status,
                   std::string_view body) {
  const ChServerError err = ParseChException(body);
  std::string msg = where + ": ";
  if (err.code != 0) msg += "server error " + std::to_string(err.code) + ": ";
  msg += err.message + " (HTTP " + std::to_string(http_status) + ")";
  if (http_status == 401 || http_status == 403 || IsAuthError(err.code)) {
    return Status::InvalidArgument(where + ": authentication failed for user '" + endpoint.user +
                                   "': " + err.message);
  }
  if (err.code == ch_error::kUnknownTable || err.code == ch_error::kUnknownDatabase) {
    return Status::NotFound(msg);
  }
  if (IsRetryableChError(err.code) || (err.code == 0 && http_status >= 500)) {
    return Status::Retryable(msg);
  }
  if (IsRequestError(err.code)) return Status::InvalidArgument(msg);
  return Status::IOError(msg);
}

std::string ChUrlEscape(void* curl, std::string_view s) {
  char* e = curl_easy_escape(curl, s.data(), static_cast<int>(s.size()));
  std::string out = e ? e : "";
  curl_free(e);
  return out;
}

Result<ChResponse> ChClient::Execute(const ChRequest& request, std::string_view what) {
  int64_t backoff_ms = 200;
  for (int attempt = 0;; ++attempt) {
    Result<ChResponse> r = ExecuteOnce(request, what);
    if (r.ok() || !request.idempotent || r.status().code() != StatusCode::kRetryable ||
        attempt >= endpoint_.retries) {
      return r;
    }
    SLUICE_LOG(kDebug) << r.status().message() << "; retry " << attempt + 1 << "/"
                       << endpoint_.retries << " in " << backoff_ms << " ms";
    std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
    backoff_ms *= 4;
  }
}

Status ChClient::Exec(const std::string& sql, std::string_view what) {
  ChRequest req;
  req.sql = sql;
  return Execute(req, what).status();
}

Result<std::vector<TsvRow>> ChClient::QueryRows(const std::string& sql, size_t columns,
                                                std::string_view what, bool use_database) {
  ChRequest req;
  req.use_database = use_database;
  req.sql = sql + " FORMAT TabSeparated";
  // The whole result is computed before the status line is sent, so an error
  // during the query is an HTTP error, not text appended to a 200 body.
  req.settings.emplace_back("wait_end_of_query", "1");
  SLUICE_ASSIGN_OR_RETURN(ChResponse resp, Execute(req, what));
  auto rows = ParseTsv(resp.body, columns);
  if (!rows.ok()) {
    return rows.status().WithContext("clickhouse " + endpoint_.Address() + ": " +
                                     std::string(what) + ": unreadable answer");
  }
  return rows;
}

Status GzipCompress(std::string_view in, int level, std::string* out) {
  GzipStream z(level);
  SLUICE_RETURN_NOT_OK(z.Reset());
  out->clear();
  return z.Add(in, /*finish=*/true, out);
}

struct GzipStream::State {
  z_stream zs;
};

GzipStream::GzipStream(int level) : state_(std::make_unique<State>()), level_(level) {
  std::memset(&state_->zs, 0, sizeof(state_->zs));
}

GzipStream::~GzipStream() {
  if (open_) deflateEnd(&state_->zs);
}

Status GzipStream::Reset() {
  if (open_) {
    deflateEnd(&state_->zs);
    open_ = false;
  }
  std::memset(&state_->zs, 0, sizeof(state_->zs));
  // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
  if (deflateInit2(&state_->zs, level_, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return Status::Internal("gzip: deflateInit2 failed");
  }
  open_ = true;
  return Status::OK();
}

Status GzipStream::Add(std::string_view in, bool finish, std::string* out) {
  if (!open_) return Status::Internal("gzip: Add before Reset");
  z_stream& zs = state_->zs;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  // Fed in slices that fit uInt (a piece over 4 GiB is possible in theory).
  size_t left = in.size();
  while (true) {
    const auto slice = static_cast<uInt>(std::min<size_t>(left, 1u << 30));
    zs.avail_in = slice;
    left -= slice;
    const int flush = finish && left == 0 ? Z_FINISH : Z_NO_FLUSH;
    int rc = Z_OK;
    do {
      const size_t before = out->size();
      const size_t room = std::max<size_t>(deflateBound(&zs, zs.avail_in), 64u << 10);
      out->resize(before + room);
      zs.next_out = reinterpret_cast<Bytef*>(out->data() + before);
      zs.avail_out = static_cast<uInt>(room);
      rc = deflate(&zs, flush);
      out->resize(before + room - zs.avail_out);
      if (rc == Z_STREAM_ERROR) return Status::Internal("gzip: deflate failed");
    } while (zs.avail_in > 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
    if (left == 0) break;
  }
  return Status::OK();
}

}  // namespace sluice
