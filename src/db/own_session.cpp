#include "db/own_session.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <cerrno>
#include <charconv>

#include "db/db_error.hpp"
#include "db/libpq_connect.hpp"

namespace pgleak::db {
namespace {

std::string trimmed(const char* text) {
  std::string s = text != nullptr ? text : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) {
    s.pop_back();
  }
  return s;
}

std::chrono::milliseconds connect_deadline(const ConnInfo& target,
                                           std::chrono::milliseconds fallback) {
  // libpq's parameter (whole seconds) when the DSN gives one; validated by ConnInfo.
  if (const auto* given = target.get("connect_timeout"); given != nullptr) {
    long seconds = 0;
    std::from_chars(given->data(), given->data() + given->size(), seconds);
    if (seconds > 0) {
      return std::chrono::seconds{std::max(seconds, 2L)};
    }
  }
  return fallback;
}

}  // namespace

OwnSession::OwnSession(const ConnInfo& target, const std::string& application_name, Options options)
    : options_(std::move(options)) {
  ConnInfo info = target;
  info.set("application_name", application_name);
  std::string error;
  conn_ = connect_with_deadline(info.to_libpq(), connect_deadline(target, options_.connect_timeout),
                                options_.interrupt, error);
  if (conn_ == nullptr) {
    throw DbError(trimmed(error.c_str()), "08001", true);
  }
}

OwnSession::~OwnSession() {
  close();
}

void OwnSession::close() noexcept {
  if (conn_ != nullptr) {
    PQfinish(conn_);
    conn_ = nullptr;
  }
}

std::vector<OwnSession::Row> OwnSession::query(std::string_view sql, const std::stop_token& stop) {
  using Clock = std::chrono::steady_clock;
  if (conn_ == nullptr) {
    throw DbError("pgleak's session is closed", "08003", true);
  }
  const auto broken = [&](const std::string& why) {
    close();
    return DbError(why, "", true);
  };
  if (PQsendQuery(conn_, std::string{sql}.c_str()) == 0) {
    throw broken(trimmed(PQerrorMessage(conn_)));
  }
  const auto deadline = Clock::now() + options_.query_timeout;
  while (PQisBusy(conn_) != 0) {
    if (stop.stop_requested() || options_.interrupt.stop_requested()) {
      throw broken("interrupted");
    }
    const auto left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) {
      throw broken("no answer from the server within " +
                   std::to_string(options_.query_timeout.count()) + "ms");
    }
    const auto wait = std::min<Clock::duration>(left, std::chrono::milliseconds{100});
    pollfd p{PQsocket(conn_), POLLIN, 0};
    const int ready =
        ::poll(&p, 1, static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(wait).count()));
    if (ready < 0 && errno != EINTR) {
      throw broken("poll failed");
    }
    if (ready > 0 && PQconsumeInput(conn_) == 0) {
      throw broken(trimmed(PQerrorMessage(conn_)));
    }
  }
  std::vector<Row> rows;
  std::optional<DbError> failure;
  while (PGresult* result = PQgetResult(conn_)) {
    const auto status = PQresultStatus(result);
    if (status == PGRES_TUPLES_OK) {
      rows.clear();
      const int n = PQntuples(result);
      const int columns = PQnfields(result);
      columns_.clear();
      for (int c = 0; c < columns; ++c) {
        columns_.emplace_back(PQfname(result, c));
      }
      rows.reserve(static_cast<size_t>(n));
      for (int r = 0; r < n; ++r) {
        Row row;
        row.reserve(static_cast<size_t>(columns));
        for (int c = 0; c < columns; ++c) {
          row.push_back(PQgetisnull(result, r, c) != 0
                            ? std::nullopt
                            : std::optional<std::string>{PQgetvalue(result, r, c)});
        }
        rows.push_back(std::move(row));
      }
    } else if (status != PGRES_COMMAND_OK && !failure) {
      const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
      failure.emplace(trimmed(PQresultErrorMessage(result)), state != nullptr ? state : "",
                      PQstatus(conn_) == CONNECTION_BAD);
    }
    PQclear(result);
  }
  if (PQstatus(conn_) == CONNECTION_BAD) {
    const auto why = failure ? std::string{failure->what()} : trimmed(PQerrorMessage(conn_));
    throw broken(why);
  }
  if (failure) {
    throw *failure;
  }
  return rows;
}

long long OwnSession::scalar(std::string_view sql, const std::stop_token& stop) {
  const auto rows = query(sql, stop);
  if (rows.size() != 1 || rows[0].empty() || !rows[0][0]) {
    throw DbError("expected one value from: " + std::string{sql}, "", false);
  }
  long long value = 0;
  const auto& text = *rows[0][0];
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) {
    throw DbError("not an integer: " + text, "", false);
  }
  return value;
}

std::string OwnSession::quote(std::string_view text) const {
  if (conn_ == nullptr) {
    throw DbError("pgleak's session is closed", "08003", true);
  }
  char* escaped = PQescapeLiteral(conn_, text.data(), text.size());
  if (escaped == nullptr) {
    throw DbError(trimmed(PQerrorMessage(conn_)), "", false);
  }
  std::string out{escaped};
  PQfreemem(escaped);
  return out;
}

}  // namespace pgleak::db
