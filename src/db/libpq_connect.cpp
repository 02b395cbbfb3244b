#include "db/libpq_connect.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>

namespace pgleak::db {

PGconn* connect_with_deadline(const std::string& conninfo, std::chrono::milliseconds deadline_ms,
                              const std::stop_token& stop, std::string& error) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + deadline_ms;
  PGconn* conn = PQconnectStart(conninfo.c_str());
  if (conn == nullptr) {
    error = "out of memory";
    return nullptr;
  }
  const auto fail = [&](std::string why) -> PGconn* {
    PQfinish(conn);
    error = std::move(why);
    return nullptr;
  };
  constexpr auto kSlice = std::chrono::milliseconds{100};
  PostgresPollingStatusType status = PGRES_POLLING_WRITING;
  while (status != PGRES_POLLING_OK) {
    if (status == PGRES_POLLING_FAILED || PQstatus(conn) == CONNECTION_BAD) {
      return fail(PQerrorMessage(conn));
    }
    if (stop.stop_requested()) {
      return fail("interrupted while connecting");
    }
    auto wait = kSlice;
    if (deadline_ms.count() > 0) {
      const auto left = deadline - Clock::now();
      if (left <= Clock::duration::zero()) {
        return fail("timeout expired (connect_timeout " + std::to_string(deadline_ms.count()) +
                    "ms)");
      }
      // poll() counts whole milliseconds: round up, never fire early.
      wait = std::min(wait, std::chrono::ceil<std::chrono::milliseconds>(left));
    }
    const auto events = status == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    pollfd p{PQsocket(conn), static_cast<short>(events), 0};
    const int ready = ::poll(&p, 1, static_cast<int>(wait.count()));
    if (ready < 0 && errno != EINTR) {
      return fail("poll failed while connecting");
    }
    if (ready > 0) {
      status = PQconnectPoll(conn);
    }  // else: the deadline and the stop are checked at the top of the loop
  }
  return conn;
}

}  // namespace pgleak::db
