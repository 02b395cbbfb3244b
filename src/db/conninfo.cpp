#include "db/conninfo.hpp"

#include <libpq-fe.h>

#include <memory>
#include <regex>

#include "util/errors.hpp"

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

}  // namespace

ConnInfo ConnInfo::parse(std::string_view dsn) {
  char* error = nullptr;
  const std::string text{dsn};
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> options{
      PQconninfoParse(text.c_str(), &error), &PQconninfoFree};
  if (options == nullptr) {
    std::string reason = error != nullptr ? error : "out of memory";
    PQfreemem(error);
    while (!reason.empty() && reason.back() == '\n') {
      reason.pop_back();
    }
    throw util::UsageError("invalid --dsn " + redact_dsn(dsn) + ": " + reason);
  }
  ConnInfo info;
  for (auto* opt = options.get(); opt->keyword != nullptr; ++opt) {
    if (opt->val != nullptr) {
      info.params_[opt->keyword] = opt->val;
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
    const bool secret = key == "password" || key == "sslpassword";
    out += key + "=" + (secret && mask_password ? std::string{"********"} : quote(value));
  }
  return out;
}

std::string ConnInfo::to_libpq() const {
  return render(false);
}
std::string ConnInfo::redacted() const {
  return render(true);
}

std::string redact_dsn(std::string_view dsn) {
  std::string text{dsn};
  // URL userinfo: scheme://user:secret@host
  static const std::regex kUrlPassword{R"(((?:postgres|postgresql)://[^:/@?#]*):[^@/?#]*@)",
                                       std::regex::icase};
  text = std::regex_replace(text, kUrlPassword, "$1:********@");
  // URL query or keyword form: password=secret, password='quoted secret'
  static const std::regex kKeyPassword{
      R"(((?:^|[\s?&])(?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]*))", std::regex::icase};
  return std::regex_replace(text, kKeyPassword, "$1********");
}

}  // namespace pgleak::db
