#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

namespace pgleak::testing {

// Runs a program with captured stdout and stderr. Used by the CLI tests to
// drive the real pgleak binary, as PostgreSQL's TAP tests drive pgbench.
class Subprocess {
 public:
  // `env`: NAME=VALUE entries set (or, as NAME=, cleared) in the child only.
  explicit Subprocess(const std::vector<std::string>& argv,
                      const std::vector<std::string>& env = {}) {
    int out[2];
    int err[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
      throw std::runtime_error("pipe failed");
    }
    std::vector<char*> args;
    for (const auto& a : argv) {
      args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      for (const auto& e : env) {
        const auto eq = e.find('=');
        if (eq + 1 == e.size()) {
          unsetenv(e.substr(0, eq).c_str());
        } else {
          setenv(e.substr(0, eq).c_str(), e.substr(eq + 1).c_str(), 1);
        }
      }
      dup2(out[1], STDOUT_FILENO);
      dup2(err[1], STDERR_FILENO);
      execv(args[0], args.data());
      _exit(127);
    }
    close(out[1]);
    close(err[1]);
    out_fd_ = out[0];
    err_fd_ = err[0];
  }
  ~Subprocess() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      wait();
    }
    if (out_fd_ >= 0) {
      close(out_fd_);
    }
    close(err_fd_);
  }

  // Reads stderr until a line containing `text` arrives (an event, not a sleep);
  // false if the process closed stderr first or `timeout` passed.
  bool wait_for_stderr(const std::string& text, std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (stderr_.find(text) == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !read_some(err_fd_, stderr_, static_cast<int>(left.count()))) {
        return false;
      }
    }
    return true;
  }

  void signal(int sig) { kill(pid_, sig); }
  // Closes our end of its stdout: its next write there fails (EPIPE, or
  // death by SIGPIPE for a program that does not ignore it).
  void close_stdout() {
    close(out_fd_);
    out_fd_ = -1;
  }

  // Waits up to `timeout` for the process to exit on its own, reading its
  // output meanwhile; kills it and returns -1 when it did not.
  int wait_for(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      const pid_t done = waitpid(pid_, &status, WNOHANG);
      if (done == pid_) {
        exited_ = true;
        while (read_some(out_fd_, stdout_, 0)) {
        }
        while (read_some(err_fd_, stderr_, 0)) {
        }
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      read_some(out_fd_, stdout_, 5);
      read_some(err_fd_, stderr_, 5);
    }
    kill(pid_, SIGKILL);
    wait();
    return -1;
  }

  pid_t pid() const { return pid_; }

  // Drains both pipes and returns the exit code (128 + signal if killed).
  int wait() {
    while (read_some(out_fd_, stdout_, -1)) {
    }
    while (read_some(err_fd_, stderr_, -1)) {
    }
    int status = 0;
    waitpid(pid_, &status, 0);
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  const std::string& out() const { return stdout_; }
  const std::string& err() const { return stderr_; }

 private:
  static bool read_some(int fd, std::string& into, int timeout_ms) {
    if (fd < 0) {
      return false;
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) {
      return false;
    }
    char buf[4096];
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) {
      return false;
    }
    into.append(buf, static_cast<size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  bool exited_ = false;
  std::string stdout_;
  std::string stderr_;
};

// What a command that ran to its end gave.
struct Finished {
  int code;  // -1 when it was killed for running past its limit
  std::string out;
  std::string err;
  double seconds;
};

// Runs argv (with `env` as for Subprocess) to its end, or kills it after `limit`.
inline Finished run_to_end(const std::vector<std::string>& argv,
                           const std::vector<std::string>& env = {},
                           std::chrono::milliseconds limit = std::chrono::minutes{2}) {
  const auto started = std::chrono::steady_clock::now();
  Subprocess p{argv, env};
  const int code = p.wait_for(limit);
  return {code, p.out(), p.err(),
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()};
}

}  // namespace pgleak::testing
