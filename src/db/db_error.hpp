#pragma once

#include <stdexcept>
#include <string>

namespace pgleak::db {

// A failure reported by (or on the way to) the server. Carries the SQLSTATE
// when one is known (from the server, or recovered from libpq's text) and
// whether the session is gone, which is what the pool needs to know.
class DbError : public std::runtime_error {
 public:
  DbError(const std::string& message, std::string sqlstate, bool disconnected)
      : std::runtime_error(message), sqlstate_(std::move(sqlstate)), disconnected_(disconnected) {}

  // Five characters, or empty when nothing identifies the error.
  const std::string& sqlstate() const noexcept { return sqlstate_; }
  // The connection can no longer be used (SQLAlchemy's "is_disconnect").
  bool disconnected() const noexcept { return disconnected_; }

 private:
  std::string sqlstate_;
  bool disconnected_;
};

}  // namespace pgleak::db
