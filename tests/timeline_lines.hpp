#pragma once

// Reads a pgleak timeline (gzip JSON Lines, record::SideFile) the way any
// gzip reader would, finished or cut short by a kill: every whole line that
// was flushed, parsed.
#include <zlib.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace pgleak::test_support {

inline std::vector<nlohmann::json> timeline_lines(const std::filesystem::path& path) {
  std::vector<nlohmann::json> lines;
  gzFile f = ::gzopen(path.c_str(), "rb");
  if (f == nullptr) {
    return lines;
  }
  std::string text;
  char buf[65536];
  int n = 0;
  while ((n = ::gzread(f, buf, sizeof buf)) > 0) {
    text.append(buf, static_cast<size_t>(n));
  }
  ::gzclose(f);
  size_t at = 0;
  for (size_t end = text.find('\n'); end != std::string::npos; end = text.find('\n', at)) {
    lines.push_back(nlohmann::json::parse(text.substr(at, end - at)));
    at = end + 1;
  }
  return lines;  // a line cut by the end of what was flushed is left out
}

}  // namespace pgleak::test_support
