#include "db/conninfo.hpp"

#include <fmt/format.h>
#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <initializer_list>
#include <memory>
#include <optional>

#include "util/errors.hpp"
#include "util/text.hpp"

namespace pgleak::db {
namespace {

std::string quote(const std::string& value) {
  if (!value.empty() && value.find_first_of(" \t\n'\\") == std::string::npos) {
    return value;
  }
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') {
      out.push_back('\\');
    }
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

// libpq's parse errors quote the input they choke on ("missing \"=\" after
// \"...\"", "invalid URI query parameter: \"...\""), which may be a password,
// and the input may hold quotes of its own. Only libpq's fixed wording before
// the first quote is kept; the fuzzer (fuzz/dsn_fuzzer.cpp) found that
// pairing quotes up could be fooled into echoing the DSN.
std::string scrub_libpq_message(std::string reason) {
  if (reason.rfind("missing \"=\" after", 0) == 0) {
    return "missing \"=\" after a keyword";
  }
  const auto quote = reason.find('"');
  if (quote != std::string::npos) {
    reason = reason.substr(0, quote);
  }
  while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' ' ||
                             reason.back() == ':' || reason.back() == '(')) {
    reason.pop_back();
  }
  return reason.empty() ? std::string{"libpq cannot parse it"} : reason;
}

bool is_integer(std::string_view text, long min, long max) {
  long value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return !text.empty() && ec == std::errc{} && end == text.data() + text.size() && value >= min &&
         value <= max;
}

// What libpq 15 accepts for the parameters it checks only when connecting.
std::optional<std::string> check_value(const std::string& key, const std::string& value) {
  struct Choice {
    std::string_view key;
    std::initializer_list<std::string_view> values;
  };
  static const Choice kChoices[] = {
      {"sslmode", {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}},
      {"gssencmode", {"disable", "prefer", "require"}},
      {"channel_binding", {"disable", "prefer", "require"}},
      {"target_session_attrs",
       {"any", "read-write", "read-only", "primary", "standby", "prefer-standby"}},
  };
  // Values are never echoed: in a malformed DSN a password can end up in any
  // of them ("port= password=..." gives port the value "password=..."), as
  // the DSN fuzzer found.
  for (const auto& c : kChoices) {
    if (c.key == key) {
      if (std::find(c.values.begin(), c.values.end(), value) == c.values.end()) {
        std::string known;
        for (const auto v : c.values) {
          known += (known.empty() ? "" : ", ") + std::string{v};
        }
        return fmt::format("{} is not one of {}", key, known);
      }
      return std::nullopt;
    }
  }
  if (key == "port") {
    // A comma-separated list, one per host; an empty entry means the default.
    size_t from = 0;
    while (from <= value.size()) {
      const auto comma = std::min(value.find(',', from), value.size());
      const std::string_view port{value.data() + from, comma - from};
      if (!port.empty() && !is_integer(port, 1, 65535)) {
        return std::string{"port is not a TCP port (1-65535)"};
      }
      from = comma + 1;
    }
    return std::nullopt;
  }
  for (const std::string_view k : {"connect_timeout", "keepalives", "keepalives_idle",
                                   "keepalives_interval", "keepalives_count", "tcp_user_timeout"}) {
    if (k == key && !is_integer(value, 0, 2'000'000'000)) {
      return fmt::format("{} is not a non-negative integer", key);
    }
  }
  return std::nullopt;
}

}  // namespace

ConnInfo ConnInfo::parse(std::string_view dsn) {
  if (dsn.size() > kMaxDsnLength) {
    throw util::UsageError(
        fmt::format("invalid DSN: it is longer than {} characters", kMaxDsnLength));
  }
  if (dsn.find('\0') != std::string_view::npos) {
    throw util::UsageError("invalid DSN: it contains a NUL character");
  }
  char* error = nullptr;
  const std::string text{dsn};
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> options{
      PQconninfoParse(text.c_str(), &error), &PQconninfoFree};
  if (options == nullptr) {
    std::string reason = error != nullptr ? error : "out of memory";
    PQfreemem(error);
    throw util::UsageError("invalid DSN: " + util::printable(scrub_libpq_message(reason)));
  }
  ConnInfo info;
  for (auto* opt = options.get(); opt->keyword != nullptr; ++opt) {
    if (opt->val != nullptr) {
      info.params_[opt->keyword] = opt->val;
    }
  }
  for (const auto& [key, value] : info.params_) {
    // A value with a line break is a second line taken in (a DSN file of two
    // lines): the server would echo it back, raw, in its reply.
    if (std::any_of(value.begin(), value.end(),
                    [](char c) { return std::iscntrl(static_cast<unsigned char>(c)) != 0; })) {
      throw util::UsageError(fmt::format(
          "invalid DSN: {} holds a control character (a line break?); a DSN is one line", key));
    }
    if (auto why = check_value(key, value)) {
      throw util::UsageError("invalid DSN: " + *why);
    }
  }
  return info;
}

void ConnInfo::add_server_option(const std::string& name, const std::string& value) {
  std::string& options = params_["options"];
  if (!options.empty()) {
    options.push_back(' ');
  }
  options += "-c " + name + "=" + value;
}

const std::string* ConnInfo::get(const std::string& key) const {
  const auto it = params_.find(key);
  return it == params_.end() ? nullptr : &it->second;
}

std::string ConnInfo::render(bool mask_password) const {
  std::string out;
  for (const auto& [key, value] : params_) {
    if (!out.empty()) {
      out.push_back(' ');
    }
    // libpq expands a dbname that is itself a connection string, password and
    // all; and a malformed DSN can carry "password=..." inside any value
    // ("host=/tmp?password=...", found by the DSN fuzzer): such values are
    // masked whole.
    std::string lower = value;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const bool expands = key == "dbname" && (value.find('=') != std::string::npos ||
                                             value.find("://") != std::string::npos);
    const bool carries = lower.find("password") != std::string::npos;
    const bool secret = key == "password" || key == "sslpassword" || expands || carries;
    out += key + "=" + (secret && mask_password ? std::string{"********"} : quote(value));
  }
  return out;
}

std::string ConnInfo::to_libpq() const {
  return render(false);
}
std::string ConnInfo::redacted() const {
  return util::printable(render(true));
}

}  // namespace pgleak::db
