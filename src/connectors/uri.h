// Endpoint URIs: scheme://[user[:password]@]host[:port]/path?key=value&...
// ("sqlite:///tmp/db.sqlite?table=t", "file:///data/x.csv", "parts:///dir?format=tdtp",
// "kafka://127.0.0.1:9092/topic"). Percent-escapes are decoded in every component.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace sluice {

struct Uri {
  std::string scheme;
  std::string user;
  std::string password;
  std::string host;
  int port = 0;  // 0 = not given
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;
  std::string original;

  static Result<Uri> Parse(std::string_view text);
  // The URI with the password replaced by "***" (for logs and errors).
  std::string Redacted() const;
};

}  // namespace sluice
