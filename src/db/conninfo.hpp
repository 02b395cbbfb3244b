#pragma once

#include <map>
#include <string>
#include <string_view>

namespace pgleak::db {

// libpq connection parameters as a value: parsed from either a keyword string
// ("host=... dbname=...") or a URL ("postgresql://user:pw@host/db"), with
// pgleak's per-connection settings layered on top, and rendered back either
// for libpq or, with the password masked, for people.
class ConnInfo {
 public:
  // Throws util::UsageError with libpq's reason (password never included).
  static ConnInfo parse(std::string_view dsn);

  void set(const std::string& key, std::string value) { params_[key] = std::move(value); }
  // Adds "-c name=value" to the libpq "options" parameter, keeping what is there.
  void add_server_option(const std::string& name, const std::string& value);
  const std::string* get(const std::string& key) const;

  // Keyword form, quoted for libpq. Contains the password: never log it.
  std::string to_libpq() const;
  // Keyword form with the password replaced by "********".
  std::string redacted() const;

 private:
  std::string render(bool mask_password) const;
  std::map<std::string, std::string> params_;
};

// Best-effort masking of a DSN string that may not even parse: used wherever a
// user-supplied DSN could end up in a message.
std::string redact_dsn(std::string_view dsn);

}  // namespace pgleak::db
