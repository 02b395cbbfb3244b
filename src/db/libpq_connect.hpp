#pragma once

#include <chrono>
#include <stop_token>
#include <string>

struct pg_conn;

namespace pgleak::db {

// Opens a libpq connection with a deadline to the millisecond (0 = none) that
// a stop request cuts short: libpq's non-blocking connect, waited on with
// fiber::wait_fd (a thread polls, a fiber suspends). libpq's own
// connect_timeout counts whole seconds with a minimum of 2, and is ignored on
// this path. On success returns the open
// connection; on failure returns nullptr and sets `error` (libpq's message,
// "timeout expired (connect_timeout Nms)" or "interrupted while connecting").
pg_conn* connect_with_deadline(const std::string& conninfo, std::chrono::milliseconds deadline,
                               const std::stop_token& stop, std::string& error);

}  // namespace pgleak::db
