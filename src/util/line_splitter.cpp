#include "util/line_splitter.hpp"

namespace pgleak::util {

void LineSplitter::feed(std::string_view chunk,
                        const std::function<void(std::string_view)>& on_line) {
  while (!chunk.empty()) {
    const auto nl = chunk.find('\n');
    if (skipping_) {  // the rest of a line too long to keep
      if (nl == std::string_view::npos) {
        return;
      }
      chunk.remove_prefix(nl + 1);
      skipping_ = false;
      continue;
    }
    if (nl == std::string_view::npos) {
      if (partial_.size() + chunk.size() > max_line_) {
        partial_.clear();
        skipping_ = true;
        ++overlong_;
      } else {
        partial_.append(chunk);
      }
      return;
    }
    if (partial_.size() + nl > max_line_) {
      ++overlong_;
      partial_.clear();
    } else if (partial_.empty()) {
      on_line(chunk.substr(0, nl));
    } else {
      partial_.append(chunk.substr(0, nl));
      on_line(partial_);
      partial_.clear();
    }
    chunk.remove_prefix(nl + 1);
  }
}

void LineSplitter::reset() {
  partial_.clear();
  skipping_ = false;
}

}  // namespace pgleak::util
