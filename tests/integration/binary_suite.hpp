#pragma once

// What the suites that drive the pgleak binary share: where the binary and
// the source tree are (pgleak_binary_suite in tests/CMakeLists.txt defines
// them), and reading back a JSON report it wrote.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace pgleak::testing {

inline const std::string kBinary = PGLEAK_BINARY;
inline const std::string kSource = PGLEAK_SOURCE_DIR;

inline nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in{path};
  return nlohmann::json::parse(in);
}

}  // namespace pgleak::testing
