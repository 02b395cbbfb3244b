#include "server/child_process.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/errors.hpp"

namespace pgleak::server {

std::optional<RunAs> server_account() {
  if (geteuid() != 0) {
    return std::nullopt;
  }
  const passwd* pw = getpwnam("postgres");
  if (pw == nullptr) {
    throw util::InfrastructureError(
        "running as root, but there is no 'postgres' account to run the embedded PostgreSQL as "
        "(install postgresql-15, or run pgleak as an ordinary user)");
  }
  return RunAs{pw->pw_uid, pw->pw_gid, pw->pw_name};
}

pid_t spawn(const std::vector<std::string>& argv, const ChildSetup& setup) {
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) {
    args.push_back(const_cast<char*>(a.c_str()));
  }
  args.push_back(nullptr);

  const int log_fd =
      ::open(setup.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    throw util::InfrastructureError("cannot open " + setup.log_path + ": " + std::strerror(errno));
  }
  if (setup.as) {
    (void)::fchown(log_fd, setup.as->uid, setup.as->gid);
  }
  int netns_fd = -1;
  if (!setup.netns_path.empty()) {
    netns_fd = ::open(setup.netns_path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (netns_fd < 0) {
      ::close(log_fd);
      throw util::InfrastructureError("cannot open the network namespace " + setup.netns_path +
                                      ": " + std::strerror(errno));
    }
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    if (netns_fd >= 0) {
      ::close(netns_fd);
    }
    throw util::InfrastructureError(std::string{"fork failed: "} + std::strerror(errno));
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);  // an ignored signal stays ignored across exec
    setsid();
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) {
      dup2(devnull, STDIN_FILENO);
    }
    // While still root: entering a namespace needs CAP_SYS_ADMIN.
    if (netns_fd >= 0 && setns(netns_fd, CLONE_NEWNET) != 0) {
      _exit(124);
    }
    if (setup.as) {
      gid_t groups[1] = {setup.as->gid};
      if (setgroups(1, groups) != 0 || setgid(setup.as->gid) != 0 || setuid(setup.as->uid) != 0) {
        _exit(126);
      }
    }
    // After setuid, which clears it. If pgleak died before this line, the
    // signal would never come: give up instead.
    if (setup.death_signal != 0 &&
        (prctl(PR_SET_PDEATHSIG, setup.death_signal) != 0 || getppid() != parent)) {
      _exit(125);
    }
    if (chdir(setup.cwd.c_str()) != 0) {
      _exit(126);
    }
    execv(args[0], args.data());
    _exit(127);
  }
  ::close(log_fd);
  if (netns_fd >= 0) {
    ::close(netns_fd);
  }
  return pid;
}

int wait_child(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      throw util::InfrastructureError(std::string{"waitpid failed: "} + std::strerror(errno));
    }
  }
  if (WIFEXITED(status)) {
    return WEXITSTATUS(status);
  }
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

int run_program(const std::vector<std::string>& argv, const std::string& log_path,
                const std::optional<RunAs>& as, const std::string& cwd,
                std::chrono::seconds timeout) {
  const pid_t pid = spawn(argv, {log_path, as, cwd, SIGKILL, {}});
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status)
                               : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    }
    if (done < 0 && errno != EINTR) {
      throw util::InfrastructureError(std::string{"waitpid failed: "} + std::strerror(errno));
    }
    ::usleep(5000);
  }
  ::kill(pid, SIGKILL);  // our own child, not yet reaped
  wait_child(pid);
  throw util::InfrastructureError(argv[0] + " did not finish within " +
                                  std::to_string(timeout.count()) + "s");
}

}  // namespace pgleak::server
