#include "connectors/clickhouse/ch_stream.h"

#include <curl/curl.h>

#include <chrono>

namespace sluice {

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxErrorBody = 64 << 10;

}  // namespace

Result<std::unique_ptr<ChStream>> ChStream::Open(const ChEndpoint& endpoint, const std::string& sql,
                                                 const ChStreamOptions& options, std::string what) {
  // Makes sure libcurl's global state is set up (once per process, by ChClient).
  SLUICE_RETURN_NOT_OK(ChClient::Make(endpoint).status());
  std::unique_ptr<ChStream> s(new ChStream());
  s->endpoint_ = endpoint;
  s->what_ = std::move(what);
  s->options_ = options;
  s->sql_ = sql;
  s->easy_ = curl_easy_init();
  s->multi_ = curl_multi_init();
  if (s->easy_ == nullptr || s->multi_ == nullptr) {
    return Status::Internal("clickhouse: cannot create a libcurl handle");
  }
  CURL* curl = s->easy_;
  std::string url = "http://" + endpoint.host + ":" + std::to_string(endpoint.port) +
                    "/?database=" + ChUrlEscape(curl, endpoint.database);
  if (options.gzip) url += "&enable_http_compression=1";
  for (const auto& [k, v] : options.settings)
    url += "&" + ChUrlEscape(curl, k) + "=" + ChUrlEscape(curl, v);
  s->url_ = std::move(url);
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Expect:");
  headers = curl_slist_append(headers, "Content-Type: text/plain; charset=UTF-8");
  s->headers_ = headers;

  curl_easy_setopt(curl, CURLOPT_URL, s->url_.c_str());
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, s->sql_.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(s->sql_.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
  curl_easy_setopt(curl, CURLOPT_USERNAME, s->endpoint_.user.c_str());
  curl_easy_setopt(curl, CURLOPT_PASSWORD, s->endpoint_.password.c_str());
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(endpoint.connect_timeout_ms));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  // Never re-sent by libcurl on a reused connection: one request, one query.
  curl_easy_setopt(curl, CURLOPT_FRESH_CONNECT, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, s->errbuf_);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &ChStream::OnData);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, s.get());
  // libcurl inflates the body itself; the callback sees plain bytes.
  if (options.gzip) curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "gzip");
  if (curl_multi_add_handle(s->multi_, curl) != CURLM_OK) {
    return Status::Internal("clickhouse: curl_multi_add_handle failed");
  }
  SLUICE_RETURN_NOT_OK(s->Pump(/*until_headers=*/true));
  return s;
}

ChStream::~ChStream() {
  if (multi_ != nullptr && easy_ != nullptr) curl_multi_remove_handle(multi_, easy_);
  if (easy_ != nullptr) curl_easy_cleanup(easy_);
  if (multi_ != nullptr) curl_multi_cleanup(multi_);
  curl_slist_free_all(static_cast<curl_slist*>(headers_));
}

size_t ChStream::OnData(char* data, size_t size, size_t n, void* self) {
  auto* s = static_cast<ChStream*>(self);
  const size_t bytes = size * n;
  if (s->http_status_ == 0) curl_easy_getinfo(s->easy_, CURLINFO_RESPONSE_CODE, &s->http_status_);
  if (s->http_status_ != 200) {
    // An error answer: keep its text (bounded) for the message.
    if (s->error_body_.size() < kMaxErrorBody) {
      s->error_body_.append(data, std::min(bytes, kMaxErrorBody - s->error_body_.size()));
    }
    return bytes;
  }
  if (s->got_piece_ && s->buffer_.size() - s->consumed_ >= s->options_.high_water) {
    // libcurl keeps this piece and hands it over again after the unpause.
    s->paused_ = true;
    return CURL_WRITEFUNC_PAUSE;
  }
  s->buffer_.append(data, bytes);
  s->received_ += static_cast<int64_t>(bytes);
  s->got_piece_ = true;
  return bytes;
}

Status ChStream::Pump(bool until_headers) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(options_.idle_timeout_ms);
  while (!finished_) {
    int running = 0;
    const CURLMcode mc = curl_multi_perform(multi_, &running);
    if (mc != CURLM_OK) {
      return Status::IOError("clickhouse " + endpoint_.Address() + ": " + what_ +
                             ": libcurl: " + curl_multi_strerror(mc));
    }
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
      if (msg->msg == CURLMSG_DONE) {
        finished_ = true;
        result_ = msg->data.result;
      }
    }
    if (finished_) break;
    if (until_headers ? http_status_ != 0 : got_piece_) break;
    if (http_status_ == 0) {
      long code = 0;
      curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &code);
      if (code != 0 && code != 200) http_status_ = code;  // an error answer, read to its end
      if (until_headers && code == 200) {
        http_status_ = code;
        break;
      }
    }
    if (Clock::now() > deadline) {
      return Status::Retryable("clickhouse " + endpoint_.Address() + ": " + what_ +
                               ": no data for " + std::to_string(options_.idle_timeout_ms / 1000) +
                               " s (timeout=)");
    }
    curl_multi_poll(multi_, nullptr, 0, 100, nullptr);
  }
  if (finished_) {
    if (result_ != CURLE_OK) return TransferError(result_, errbuf_);
    if (http_status_ == 0) curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &http_status_);
    if (http_status_ != 200) return HttpError();
  } else if (http_status_ != 0 && http_status_ != 200) {
    // Headers of an error answer: read its body to the end for the message.
    while (!finished_) {
      int running = 0;
      if (curl_multi_perform(multi_, &running) != CURLM_OK) break;
      int left = 0;
      while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
        if (msg->msg == CURLMSG_DONE) {
          finished_ = true;
          result_ = msg->data.result;
        }
      }
      if (!finished_) {
        if (Clock::now() > deadline) break;
        curl_multi_poll(multi_, nullptr, 0, 100, nullptr);
      }
    }
    return HttpError();
  }
  return Status::OK();
}

Result<bool> ChStream::Fill() {
  if (consumed_ > 0) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
  if (finished_) return false;
  got_piece_ = false;
  if (paused_) {
    paused_ = false;
    curl_easy_pause(easy_, CURLPAUSE_CONT);  // may deliver the kept piece right here
  }
  if (!got_piece_) SLUICE_RETURN_NOT_OK(Pump(/*until_headers=*/false));
  return got_piece_;
}

Status ChStream::TransferError(int code, const char* errbuf) const {
  const auto rc = static_cast<CURLcode>(code);
  const std::string detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
  const std::string where = "clickhouse " + endpoint_.Address() + ": " + what_;
  if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST) {
    return Status::Retryable(where + ": cannot connect to " + endpoint_.Address() + " (" + detail +
                             ")");
  }
  if (received_ > 0) {
    return Status::Retryable(where + ": the connection broke after " + std::to_string(received_) +
                             " bytes of the answer (" + detail + ")");
  }
  return Status::Retryable(where + ": request failed (" + detail + ")");
}

Status ChStream::HttpError() const {
  return ChHttpError(endpoint_, "clickhouse " + endpoint_.Address() + ": " + what_, http_status_,
                     error_body_);
}

}  // namespace sluice
