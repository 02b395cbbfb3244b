#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace pgleak::util {

// Splits a stream of bytes into lines, keeping at most `max_line` bytes of
// a line still being written (kMaxLine unless told): a longer line is skipped
// up to its newline and counted, so no input makes it hold more. Used by one
// thread.
class LineSplitter {
 public:
  static constexpr size_t kMaxLine = size_t{1} << 20;

  explicit LineSplitter(size_t max_line = kMaxLine) : max_line_(max_line) {}

  // Hands each whole line completed by `chunk` to `on_line`, without its newline.
  void feed(std::string_view chunk, const std::function<void(std::string_view)>& on_line);
  // Forgets a line begun before (the file it came from was cut).
  void reset();
  // Lines longer than kMaxLine, skipped.
  uint64_t overlong() const { return overlong_; }
  // Bytes held of the line being written.
  size_t held() const { return partial_.size(); }

 private:
  size_t max_line_;
  std::string partial_;
  bool skipping_ = false;
  uint64_t overlong_ = 0;
};

}  // namespace pgleak::util
