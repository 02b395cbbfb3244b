#include "probe/run_backends.hpp"

#include <fmt/format.h>

#include <thread>

#include "db/own_session.hpp"
#include "scenario/backend_tag.hpp"

namespace pgleak::probe {

RunBackends::RunBackends(db::ConnInfo admin, std::string marker, std::stop_token interrupt)
    : admin_(std::move(admin)), marker_(std::move(marker)), interrupt_(std::move(interrupt)) {}

RunBackends::~RunBackends() = default;

int RunBackends::scalar(const std::string& select_list, const std::string& process,
                        bool active_only) {
  std::lock_guard lock{mutex_};
  for (int attempt = 0; attempt < 2 && !interrupt_.stop_requested(); ++attempt) {
    try {
      if (!conn_ || conn_->broken()) {
        conn_ = std::make_unique<db::OwnSession>(
            admin_, db::own_name::kAdmin,
            db::OwnSession::Options{.connect_timeout = std::chrono::seconds{5},
                                    .query_timeout = std::chrono::seconds{5},
                                    .interrupt = interrupt_});
      }
      // A process's tags hold the marker, then "<process>." (BackendTag).
      const std::string marker = process.empty() ? marker_ : marker_ + process + ".";
      return static_cast<int>(conn_->scalar(fmt::format(
          "SELECT {} FROM pg_stat_activity WHERE strpos(application_name, {}) "
          "> 0 AND pid <> pg_backend_pid(){}",
          select_list, conn_->quote(marker), active_only ? " AND state = 'active'" : "")));
    } catch (const std::exception& e) {
      last_error_ = e.what();
      conn_.reset();  // a restarted server: one fresh try
    }
  }
  if (interrupt_.stop_requested()) {
    last_error_ = "interrupted";
  }
  return -1;
}

std::string RunBackends::last_error() const {
  std::lock_guard lock{mutex_};
  return last_error_;
}

int RunBackends::cancel(const std::string& process, bool active_only) {
  return scalar("count(pg_cancel_backend(pid))::int", process, active_only);
}

int RunBackends::terminate(const std::string& process) {
  return scalar("count(pg_terminate_backend(pid))::int", process, false);
}

int RunBackends::count(const std::string& process) {
  return scalar("count(*)::int", process, false);
}

int RunBackends::wait_gone(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const int left = count();
    if (left <= 0 || std::chrono::steady_clock::now() >= deadline) {
      return left;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
}

}  // namespace pgleak::probe
