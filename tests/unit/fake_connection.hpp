#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "db/connection.hpp"
#include "db/db_error.hpp"

namespace pgleak::testing {

// What happened to fake sessions, shared between the factory and its connections.
struct FakeServer {
  std::mutex mutex;
  std::vector<std::string> log;  // "open 1", "ping 1", "rollback 1", "close 1", "exec 1 SELECT 1"
  int next_pid = 1;
  int open = 0;
  bool refuse_connections = false;
  bool interrupt_connections = false;  // as if the run stopped while connecting
  std::vector<int> dead;               // pids whose backend was "terminated"

  void note(const std::string& line) {
    std::lock_guard lock{mutex};
    log.push_back(line);
  }
  bool is_dead(int pid) {
    std::lock_guard lock{mutex};
    return std::find(dead.begin(), dead.end(), pid) != dead.end();
  }
  void kill_all() {
    std::lock_guard lock{mutex};
    for (int pid = 1; pid < next_pid; ++pid) {
      dead.push_back(pid);
    }
  }
  size_t count(const std::string& prefix) {
    std::lock_guard lock{mutex};
    return static_cast<size_t>(std::count_if(
        log.begin(), log.end(), [&](const std::string& l) { return l.rfind(prefix, 0) == 0; }));
  }
};

class FakeConnection final : public db::Connection {
 public:
  FakeConnection(FakeServer& server, int pid, std::string app)
      : server_(server), pid_(pid), app_(std::move(app)) {}
  ~FakeConnection() override { close(); }

  // "SELECT 1/0" fails as PostgreSQL's does (22012) and aborts the
  // transaction; any statement in an aborted transaction then fails with 25P02.
  void execute(std::string_view sql) override {
    check_alive();
    server_.note("exec " + std::to_string(pid_) + " " + std::string{sql});
    if (state_ == db::TxState::kFailed) {
      throw db::DbError("current transaction is aborted", "25P02", false);
    }
    if (sql == "SELECT 1/0") {
      state_ = state_ == db::TxState::kIdle ? state_ : db::TxState::kFailed;
      throw db::DbError("division by zero", "22012", false);
    }
  }
  void begin() override {
    check_alive();
    server_.note("begin " + std::to_string(pid_));
    state_ = db::TxState::kInTransaction;
  }
  void commit() override {
    check_alive();
    server_.note("commit " + std::to_string(pid_));
    state_ = db::TxState::kIdle;
  }
  void rollback() override {
    if (state_ == db::TxState::kIdle) {
      return;
    }
    check_alive();
    server_.note("rollback " + std::to_string(pid_));
    state_ = db::TxState::kIdle;
  }
  void ping() override {
    server_.note("ping " + std::to_string(pid_));
    check_alive();
  }
  void set_application_name(const std::string& name) override { app_ = name; }
  db::TxState tx_state() const noexcept override { return state_; }
  int backend_pid() const noexcept override { return closed_ ? 0 : pid_; }
  const std::string& application_name() const noexcept override { return app_; }
  void close() noexcept override {
    if (!closed_) {
      closed_ = true;
      server_.note("close " + std::to_string(pid_));
      std::lock_guard lock{server_.mutex};
      --server_.open;
    }
  }

 private:
  void check_alive() {
    if (server_.is_dead(pid_)) {
      throw db::DbError("server closed the connection unexpectedly", "08006", true);
    }
  }
  FakeServer& server_;
  int pid_;
  std::string app_;
  db::TxState state_ = db::TxState::kIdle;
  bool closed_ = false;
};

class FakeFactory final : public db::ConnectionFactory {
 public:
  explicit FakeFactory(FakeServer& server) : server_(server) {}
  std::unique_ptr<db::Connection> open(const db::ConnectRequest& request) override {
    int pid = 0;
    {
      std::lock_guard lock{server_.mutex};
      if (server_.interrupt_connections) {
        throw db::ConnectInterrupted{};
      }
      if (server_.refuse_connections) {
        throw db::DbError("FATAL:  sorry, too many clients already", "53300", true);
      }
      pid = server_.next_pid++;
      ++server_.open;
    }
    server_.note("open " + std::to_string(pid));
    return std::make_unique<FakeConnection>(server_, pid, request.application_name);
  }

 private:
  FakeServer& server_;
};

}  // namespace pgleak::testing
