#include "k8s/yaml.hpp"

#include <algorithm>

namespace pgleak::k8s {
namespace {

using nlohmann::json;

// JSON's quoting, ASCII only: valid YAML whatever the text holds (C1 controls
// and byte-order marks, which YAML does not allow raw, become \u escapes).
std::string json_quoted(const json& value) {
  return value.dump(-1, ' ', /*ensure_ascii=*/true, json::error_handler_t::replace);
}

// A key as it may stand unquoted: letters, digits and - _ . /
std::string key_text(const std::string& key) {
  const bool plain = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.' ||
           c == '/';
  });
  return plain ? key : json_quoted(key);
}

// Text a literal block holds exactly: lines of printable ASCII and tabs
// (anything else is written quoted, with escapes).
bool fits_literal_block(const std::string& text) {
  if (text.find('\n') == std::string::npos) {
    return false;
  }
  return std::all_of(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return c == '\n' || c == '\t' || (u >= 0x20 && u < 0x7f);
  });
}

std::string literal_block(const std::string& text, int indent) {
  // Chomping: "|" keeps one final newline, "|-" none, "|+" all of them; the
  // indentation indicator is there for text whose first line starts with a space.
  const bool ends_newline = !text.empty() && text.back() == '\n';
  const bool many = text.size() >= 2 && text.substr(text.size() - 2) == "\n\n";
  std::string out = "|";
  if (!text.empty() && (text[0] == ' ' || text[0] == '\n')) {
    out += "2";
  }
  out += many ? "+" : ends_newline ? "" : "-";
  out += "\n";
  const std::string pad(static_cast<size_t>(indent), ' ');
  size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) {
      end = text.size();
    }
    const auto line = text.substr(start, end - start);
    out += (line.empty() ? "" : pad + line) + "\n";
    start = end + 1;
  }
  return out;
}

bool is_block(const json& v) {
  return (v.is_object() || v.is_array()) && !v.empty();
}

std::string scalar(const json& v, int indent) {
  if (v.is_string() && fits_literal_block(v.get<std::string>())) {
    return literal_block(v.get<std::string>(), indent);
  }
  if (v.is_object() || v.is_array()) {
    return (v.is_object() ? "{}" : "[]") + std::string{"\n"};
  }
  return json_quoted(v) + "\n";
}

void write(const json& v, int indent, std::string& out);

// A value after "key:" or "- ".
void write_value(const json& v, int indent, std::string& out, bool after_dash) {
  if (!is_block(v)) {
    out += " " + scalar(v, indent + 2);
    return;
  }
  if (after_dash && v.is_object()) {
    // "- key: value" with the rest of the object under it.
    std::string inner;
    write(v, indent + 2, inner);
    out += " " + inner.substr(static_cast<size_t>(indent + 2));
    return;
  }
  out += "\n";
  write(v, indent + 2, out);
}

void write(const json& v, int indent, std::string& out) {
  const std::string pad(static_cast<size_t>(indent), ' ');
  if (v.is_object()) {
    for (const auto& [key, value] : v.items()) {
      out += pad + key_text(key) + ":";
      write_value(value, indent, out, false);
    }
  } else if (v.is_array()) {
    for (const auto& item : v) {
      out += pad + "-";
      write_value(item, indent, out, true);
    }
  } else {
    out += pad + scalar(v, indent);
  }
}

}  // namespace

std::string to_yaml(const json& document) {
  std::string out;
  if (is_block(document)) {
    write(document, 0, out);
  } else {
    out = scalar(document, 0);
  }
  return out;
}

}  // namespace pgleak::k8s
