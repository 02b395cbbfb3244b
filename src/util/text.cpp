#include "util/text.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>

namespace pgleak::util {
namespace {

// Length of the valid UTF-8 sequence starting at text[i], or 0 when invalid
// (overlong forms, surrogates and code points past U+10FFFF included).
size_t utf8_length(std::string_view text, size_t i, uint32_t& code_point) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char b0 = byte(i);
  size_t n = 0;
  uint32_t cp = 0;
  uint32_t min = 0;
  if (b0 < 0x80) {
    code_point = b0;
    return 1;
  }
  if ((b0 & 0xE0) == 0xC0) {
    n = 2, cp = b0 & 0x1Fu, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    n = 3, cp = b0 & 0x0Fu, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    n = 4, cp = b0 & 0x07u, min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > text.size()) {
    return 0;
  }
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) {
      return 0;
    }
    cp = (cp << 6) | (byte(i + k) & 0x3Fu);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  code_point = cp;
  return n;
}

}  // namespace

// Calls valid(code_point, bytes) for each UTF-8 sequence of `text` and
// invalid(byte) for each byte that starts none.
template <typename Valid, typename Invalid>
void for_each_sequence(std::string_view text, Valid valid, Invalid invalid) {
  for (size_t i = 0; i < text.size();) {
    uint32_t cp = 0;
    const size_t n = utf8_length(text, i, cp);
    if (n == 0) {
      invalid(static_cast<unsigned char>(text[i]));
      ++i;
    } else {
      valid(cp, text.substr(i, n));
      i += n;
    }
  }
}

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for_each_sequence(
      text,
      [&](uint32_t cp, std::string_view bytes) {
        if (cp < 0x20 || cp == 0x7F) {
          out += fmt::format("\\x{:02x}", cp);
        } else if (cp >= 0x80 && cp < 0xA0) {
          out += fmt::format("\\u{:04x}", cp);  // C1 controls: CSI (U+009B) and friends
        } else {
          out.append(bytes);
        }
      },
      [&](unsigned char byte) { out += fmt::format("\\x{:02x}", byte); });
  return out;
}

std::string printable_lines(std::string_view text) {
  std::string out;
  size_t from = 0;
  while (true) {
    const auto nl = text.find('\n', from);
    out += printable(text.substr(from, nl == std::string_view::npos ? nl : nl - from));
    if (nl == std::string_view::npos) {
      return out;
    }
    out.push_back('\n');
    from = nl + 1;
  }
}

std::string valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for_each_sequence(
      text, [&](uint32_t, std::string_view bytes) { out.append(bytes); },
      [&](unsigned char) { out += "\xEF\xBF\xBD"; });
  return out;
}

bool is_sqlstate(std::string_view text) {
  return text.size() == 5 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
         });
}

}  // namespace pgleak::util
