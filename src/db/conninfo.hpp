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
  // Throws util::UsageError with the reason; the DSN itself is never echoed
  // (it may hold a password), nor any quoted fragment of libpq's message.
  // Beyond libpq's own parsing, values libpq would only reject when
  // connecting are checked here, so they are usage errors (exit 2) and not
  // "cannot reach the target": port, sslmode, gssencmode, channel_binding,
  // target_session_attrs and the integer parameters.
  static ConnInfo parse(std::string_view dsn);

  void set(const std::string& key, std::string value) { params_[key] = std::move(value); }
  // Adds "-c name=value" to the libpq "options" parameter, keeping what is there.
  void add_server_option(const std::string& name, const std::string& value);
  const std::string* get(const std::string& key) const;

  // Keyword form, quoted for libpq. Contains the password: never log it.
  std::string to_libpq() const;
  // Keyword form with the password replaced by "********" (and a dbname that
  // is itself a connection string, which libpq would expand, masked whole).
  std::string redacted() const;
  bool has_password() const { return params_.contains("password"); }

 private:
  std::string render(bool mask_password) const;
  std::map<std::string, std::string> params_;
};

// The longest DSN pgleak accepts.
inline constexpr size_t kMaxDsnLength = 8192;

}  // namespace pgleak::db
