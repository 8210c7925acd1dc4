// A fresh directory for a test: made under the system temp directory with
// mkdtemp, removed with everything in it when the object goes. Linked only
// into tests (target sluice_testing).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sluice::testing {

class TempDir {
 public:
  // "<tmp>/<prefix>_XXXXXX"; aborts the test binary if it cannot be made.
  explicit TempDir(std::string_view prefix = "sluice_test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path/name.
  std::string sub(std::string_view name) const;
  std::string operator/(std::string_view name) const { return sub(name); }
  // Names of everything in the directory (hidden entries too), sorted.
  std::vector<std::string> List() const;

 private:
  std::string path_;
};

}  // namespace sluice::testing
