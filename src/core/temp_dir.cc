#include "core/temp_dir.h"

#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <system_error>

namespace sluice::testing {

namespace fs = std::filesystem;

TempDir::TempDir(std::string_view prefix) {
  std::error_code ec;
  fs::path base = fs::temp_directory_path(ec);
  if (ec) base = "/tmp";
  std::string tmpl = (base / (std::string(prefix) + "_XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::perror(("TempDir: mkdtemp " + tmpl).c_str());
    std::abort();
  }
  path_ = std::move(tmpl);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string TempDir::sub(std::string_view name) const { return (fs::path(path_) / name).string(); }

std::vector<std::string> TempDir::List() const {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(path_)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace sluice::testing
