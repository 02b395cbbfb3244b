#pragma once

#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

namespace pgleak::testing {

// A private directory for one test under the temp dir, removed with all it
// holds when the test ends. Its name starts "pgleak-test-", which pgleak's
// reaper never mistakes for a run's directory. `mode` 0755 lets the postgres
// account reach an embedded server's directory inside it (a run's TMPDIR).
class ScratchDir {
 public:
  explicit ScratchDir(mode_t mode = 0700) {
    std::string pattern = (std::filesystem::temp_directory_path() / "pgleak-test-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
    ::chmod(path_.c_str(), mode);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace pgleak::testing
