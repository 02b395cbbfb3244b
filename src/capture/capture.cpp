#include "capture/capture.hpp"

#include <fmt/format.h>

#include <cctype>

namespace pgleak::capture {
namespace {

constexpr size_t kMaxNormalized = 4096;

bool word_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '$';
}

// The end of a quoted run starting at `i` (the opening quote), a doubled
// quote being part of it.
size_t quoted_end(std::string_view sql, size_t i, char quote) {
  size_t j = i + 1;
  while (j < sql.size()) {
    if (sql[j] == quote) {
      if (j + 1 < sql.size() && sql[j + 1] == quote) {
        j += 2;
        continue;
      }
      return j + 1;
    }
    ++j;
  }
  return sql.size();
}

}  // namespace

std::string application_of(const Backend& b) {
  if (!b.application.empty()) {
    return b.application;
  }
  return (b.client.empty() ? std::string{"local"} : b.client) + " " + b.user;
}

std::string normalize_query(std::string_view sql) {
  std::string out;
  bool space = false;
  for (size_t i = 0; i < sql.size() && out.size() < kMaxNormalized;) {
    const char c = sql[i];
    if (std::isspace(static_cast<unsigned char>(c)) != 0) {
      space = !out.empty();
      ++i;
      continue;
    }
    if (space) {
      out.push_back(' ');
      space = false;
    }
    const bool starts_word = out.empty() || !word_char(out.back());
    if (c == '\'') {  // a string literal
      out.push_back('?');
      i = quoted_end(sql, i, '\'');
    } else if (c == '"') {  // a quoted identifier: kept as written
      const size_t end = quoted_end(sql, i, '"');
      out.append(sql.substr(i, end - i));
      i = end;
    } else if (starts_word && (std::isdigit(static_cast<unsigned char>(c)) != 0 ||
                               (c == '.' && i + 1 < sql.size() &&
                                std::isdigit(static_cast<unsigned char>(sql[i + 1])) != 0))) {
      out.push_back('?');  // a number: digits, a point, an exponent
      while (i < sql.size() && (word_char(sql[i]) || sql[i] == '.')) {
        ++i;
      }
    } else {
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
      ++i;
    }
  }
  if (out.size() > kMaxNormalized) {
    out.resize(kMaxNormalized);
  }
  return out;
}

std::string fingerprint(std::string_view normalized) {
  if (normalized.empty()) {
    return {};
  }
  uint64_t h = 1469598103934665603ull;
  for (const char c : normalized) {
    h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  }
  return fmt::format("{:016x}", h);
}

}  // namespace pgleak::capture
