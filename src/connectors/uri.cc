#include "connectors/uri.h"

#include <cctype>

namespace sluice {

namespace {
int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> Unescape(std::string_view s, bool plus_is_space, std::string_view whole) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size() || Hex(s[i + 1]) < 0 || Hex(s[i + 2]) < 0) {
        return Status::InvalidArgument("bad percent-escape in URI '" + std::string(whole) + "'");
      }
      out.push_back(static_cast<char>(Hex(s[i + 1]) * 16 + Hex(s[i + 2])));
      i += 2;
    } else if (plus_is_space && s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}
}  // namespace

Result<Uri> Uri::Parse(std::string_view text) {
  Uri u;
  u.original = std::string(text);
  auto bad = [&](std::string_view why) {
    return Status::InvalidArgument("invalid URI '" + std::string(text) + "': " + std::string(why));
  };
  size_t colon = text.find("://");
  if (colon == std::string_view::npos || colon == 0) return bad("expected scheme://...");
  for (char c : text.substr(0, colon)) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.')) {
      return bad("bad character in scheme");
    }
  }
  u.scheme = std::string(text.substr(0, colon));
  std::string_view rest = text.substr(colon + 3);
  std::string_view query;
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    size_t c = userinfo.find(':');
    SLUICE_ASSIGN_OR_RETURN(u.user, Unescape(userinfo.substr(0, c), false, text));
    if (c != std::string_view::npos) {
      SLUICE_ASSIGN_OR_RETURN(u.password, Unescape(userinfo.substr(c + 1), false, text));
    }
  }
  std::string_view host = authority;
  if (!authority.empty() && authority.front() == '[') {  // [::1]:port
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated IPv6 host");
    host = authority.substr(1, close - 1);
    authority = authority.substr(close + 1);
    if (!authority.empty() && authority.front() != ':') return bad("garbage after IPv6 host");
    if (!authority.empty()) authority = authority.substr(1);
    else authority = {};
    if (!authority.empty()) {
      int port = 0;
      for (char c : authority) {
        if (c < '0' || c > '9' || port > 65535) return bad("bad port");
        port = port * 10 + (c - '0');
      }
      u.port = port;
    }
  } else if (size_t c = authority.rfind(':'); c != std::string_view::npos) {
    host = authority.substr(0, c);
    std::string_view p = authority.substr(c + 1);
    int port = 0;
    if (p.empty()) return bad("empty port");
    for (char ch : p) {
      if (ch < '0' || ch > '9') return bad("bad port '" + std::string(p) + "'");
      port = port * 10 + (ch - '0');
      if (port > 65535) return bad("port out of range");
    }
    u.port = port;
  }
  SLUICE_ASSIGN_OR_RETURN(u.host, Unescape(host, false, text));
  SLUICE_ASSIGN_OR_RETURN(u.path, Unescape(path, false, text));
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view kv = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (kv.empty()) continue;
    size_t eq = kv.find('=');
    SLUICE_ASSIGN_OR_RETURN(std::string k, Unescape(kv.substr(0, eq), true, text));
    std::string v;
    if (eq != std::string_view::npos) {
      SLUICE_ASSIGN_OR_RETURN(v, Unescape(kv.substr(eq + 1), true, text));
    }
    if (k.empty()) return bad("empty option name");
    u.query.emplace_back(std::move(k), std::move(v));
  }
  return u;
}

std::string Uri::Redacted() const {
  if (password.empty()) return original;
  std::string out = original;
  size_t at = out.find('@');
  size_t start = out.find("://");
  if (at == std::string::npos || start == std::string::npos) return original;
  size_t colon = out.find(':', start + 3);
  if (colon == std::string::npos || colon > at) return original;
  return out.substr(0, colon + 1) + "***" + out.substr(at);
}

}  // namespace sluice
