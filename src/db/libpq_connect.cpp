#include "db/libpq_connect.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <cerrno>

#include "fiber/sync.hpp"

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
  PostgresPollingStatusType status = PGRES_POLLING_WRITING;
  while (status != PGRES_POLLING_OK) {
    if (status == PGRES_POLLING_FAILED || PQstatus(conn) == CONNECTION_BAD) {
      return fail(PQerrorMessage(conn));
    }
    if (stop.stop_requested()) {
      return fail("interrupted while connecting");
    }
    if (deadline_ms.count() > 0 && Clock::now() >= deadline) {
      return fail("timeout expired (connect_timeout " + std::to_string(deadline_ms.count()) +
                  "ms)");
    }
    // A thread polls; a fiber suspends on the socket (fiber/sync.hpp).
    const short events = status == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    const int ready = fiber::wait_fd(PQsocket(conn), events,
                                     deadline_ms.count() > 0 ? &deadline : nullptr, &stop);
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
