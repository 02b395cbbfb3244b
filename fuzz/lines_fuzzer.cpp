// libFuzzer target: util::LineSplitter, which splits what the log follower
// reads (`--server-log`, PgBouncer's log) and merge's timelines into lines.
// The first byte of each input chooses how the rest is cut into chunks; the
// lines must be the same however it is cut, none may hold a newline or pass
// kMaxLine, and the splitter may never hold more than kMaxLine.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "util/line_splitter.hpp"

namespace {

using pgleak::util::LineSplitter;

std::vector<std::string> split(std::string_view text, size_t chunk) {
  LineSplitter s;
  std::vector<std::string> lines;
  while (!text.empty()) {
    const auto piece = text.substr(0, chunk);
    s.feed(piece, [&](std::string_view l) {
      if (l.size() > LineSplitter::kMaxLine || l.find('\n') != std::string_view::npos) {
        std::abort();
      }
      lines.emplace_back(l);
    });
    if (s.held() > LineSplitter::kMaxLine) {
      std::abort();
    }
    text.remove_prefix(piece.size());
  }
  return lines;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) {
    return 0;
  }
  // Repeat the input so that a short one can still cross kMaxLine.
  const size_t repeat = data[0] & 0x80 ? (LineSplitter::kMaxLine / size) + 2 : 1;
  std::string text;
  text.reserve((size - 1) * repeat);
  for (size_t i = 0; i < repeat; ++i) {
    text.append(reinterpret_cast<const char*>(data) + 1, size - 1);
  }
  const size_t chunk = (data[0] & 0x7f) + 1;
  if (split(text, chunk) != split(text, text.size() + 1)) {
    std::abort();  // where the reads fall must not change the lines
  }
  return 0;
}
