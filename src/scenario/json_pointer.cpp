#include "scenario/json_pointer.hpp"

namespace pgleak::scenario {

std::string pointer_token(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  for (const char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string excerpt(std::string_view text, size_t max) {
  if (text.size() <= max) {
    return std::string{text};
  }
  return std::string{text.substr(0, max)} + "...(" + std::to_string(text.size()) + " characters)";
}

}  // namespace pgleak::scenario
