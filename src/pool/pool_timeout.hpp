#pragma once

#include <stdexcept>
#include <string>

#include "util/duration.hpp"

namespace pgleak::pool {

// sqlalchemy.exc.TimeoutError: no connection became free within pool_timeout.
class PoolTimeoutError : public std::runtime_error {
 public:
  PoolTimeoutError(const std::string& message, util::Micros waited)
      : std::runtime_error(message), waited_(waited) {}
  // Time from the checkout request to the failure.
  util::Micros waited() const noexcept { return waited_; }

 private:
  util::Micros waited_;
};

// Checkout gave up because the run is stopping (Ctrl-C, end of scenario).
class CheckoutCancelled : public std::runtime_error {
 public:
  CheckoutCancelled() : std::runtime_error("checkout cancelled: run is stopping") {}
};

// SQLAlchemy's exact text, "%0.2f" timeout included.
std::string timeout_message(int pool_size, int overflow, util::Micros timeout);

}  // namespace pgleak::pool
