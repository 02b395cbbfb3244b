#include "probe/run_backends.hpp"

#include <fmt/format.h>

#include <thread>

#include "db/own_session.hpp"
#include "scenario/backend_tag.hpp"

namespace pgleak::probe {

RunBackends::RunBackends(db::ConnInfo admin, std::string marker, std::stop_token interrupt)
    : admin_(std::move(admin)), marker_(std::move(marker)), interrupt_(std::move(interrupt)) {}

RunBackends::~RunBackends() = default;

std::optional<std::vector<db::OwnSession::Row>> RunBackends::select(const std::string& select_list,
                                                                    const std::string& process,
                                                                    const std::string& where) {
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
      return conn_->query(
          fmt::format("SELECT {} FROM pg_stat_activity WHERE strpos(application_name, {}) "
                      "> 0 AND pid <> pg_backend_pid(){}",
                      select_list, conn_->quote(marker), where));
    } catch (const std::exception& e) {
      last_error_ = e.what();
      conn_.reset();  // a restarted server: one fresh try
    }
  }
  if (interrupt_.stop_requested()) {
    last_error_ = "interrupted";
  }
  return std::nullopt;
}

int RunBackends::scalar(const std::string& select_list, const std::string& process,
                        bool active_only) {
  const auto rows = select(select_list, process, active_only ? " AND state = 'active'" : "");
  if (!rows || rows->empty() || rows->front().empty()) {
    return -1;
  }
  return db::OwnSession::number<int>(rows->front().front());
}

std::optional<std::vector<std::pair<int, int>>> RunBackends::client_ports(
    const std::string& process) {
  const auto rows = select("pid, client_port", process, " AND client_port > 0");
  if (!rows) {
    return std::nullopt;
  }
  std::vector<std::pair<int, int>> ports;
  for (const auto& row : *rows) {
    ports.emplace_back(db::OwnSession::number<int>(row.at(0)),
                       db::OwnSession::number<int>(row.at(1)));
  }
  return ports;
}

namespace {

// " AND pid = ANY('{1,2}'::int[])": integers only, so nothing to quote.
std::string among(const std::vector<int>& pids) {
  std::string list;
  for (const int pid : pids) {
    list += (list.empty() ? "" : ",") + std::to_string(pid);
  }
  return fmt::format(" AND pid = ANY('{{{}}}'::int[])", list);
}

}  // namespace

int RunBackends::terminate_pids(const std::vector<int>& pids) {
  if (pids.empty()) {
    return 0;
  }
  const auto rows = select("count(pg_terminate_backend(pid))::int", {}, among(pids));
  if (!rows || rows->empty() || rows->front().empty()) {
    return -1;
  }
  return db::OwnSession::number<int>(rows->front().front());
}

std::optional<std::vector<int>> RunBackends::still_there(const std::vector<int>& pids) {
  const auto rows = select("pid", {}, among(pids));
  if (!rows) {
    return std::nullopt;
  }
  std::vector<int> there;
  for (const auto& row : *rows) {
    there.push_back(db::OwnSession::number<int>(row.at(0)));
  }
  return there;
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
