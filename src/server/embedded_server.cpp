#include "server/embedded_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "db/own_session.hpp"
#include "server/initdb_template.hpp"
#include "server/kept_child.hpp"
#include "server/plumbing.hpp"
#include "util/errors.hpp"

namespace fs = std::filesystem;

namespace pgleak::server {
namespace {

using Clock = std::chrono::steady_clock;

fs::path temp_base() {
  const char* tmp = std::getenv("TMPDIR");
  return (tmp != nullptr && *tmp != '\0') ? fs::path{tmp} : fs::path{"/tmp"};
}

// The mode of a run's directory: others may only traverse it, and only when
// the server runs as another account and must reach its own subdirectory.
mode_t run_dir_mode(const std::optional<RunAs>& as) {
  return as && as->uid != ::geteuid() ? 0711 : 0700;
}

// postmaster.pid's eighth line is the postmaster's status (PostgreSQL 10+).
bool says_ready(const std::string& pidfile) {
  std::istringstream in{pidfile};
  std::string line;
  for (int i = 0; i < 8 && std::getline(in, line); ++i) {
  }
  return line.rfind("ready", 0) == 0;
}

}  // namespace

std::string find_pg_bin_dir(const std::string& hint) {
  std::string dir = hint;
  if (dir.empty()) {
    if (const char* env = std::getenv("PGLEAK_PG_BIN"); env != nullptr) {
      dir = env;
    }
  }
  if (dir.empty()) {
    int best = 0;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator{"/usr/lib/postgresql", ec}) {
      const int major = std::atoi(entry.path().filename().c_str());
      if (major > best && fs::exists(entry.path() / "bin" / "initdb")) {
        best = major;
        dir = (entry.path() / "bin").string();
      }
    }
  }
  if (dir.empty() || !fs::exists(fs::path{dir} / "initdb") ||
      !fs::exists(fs::path{dir} / "postgres")) {
    throw util::InfrastructureError(
        "cannot find initdb and postgres (looked in $PGLEAK_PG_BIN and "
        "/usr/lib/postgresql/*/bin); install postgresql-15 or set PGLEAK_PG_BIN");
  }
  return dir;
}

std::string EmbeddedServer::tool(const char* name) const {
  return bin_dir_ + "/" + name;
}

std::string EmbeddedServer::log_tail() const {
  std::string all = read_file(log_path()) + read_file(pg_dir() / "log" / "postgresql.log");
  constexpr size_t kTail = 1500;
  return all.size() > kTail ? "..." + all.substr(all.size() - kTail) : all;
}

pid_t EmbeddedServer::postmaster_pid() const {
  return child_ ? child_->pid() : 0;
}

void EmbeddedServer::write_settings(const EmbeddedServerOptions& options) const {
  // In the run's namespace the workers come from the other end of the veth
  // pair: "samenet" trusts that one /30 (and nothing beyond it).
  std::string hba;
  if (!netns_path_.empty()) {
    const auto file = pg_dir() / "pg_hba_netns.conf";
    write_new_file(file,
                   "local all all trust\n"
                   "host all all samenet trust\n",
                   0644);
    hba = fmt::format("hba_file = '{}'\n", file.string());
  }
  // postgresql.auto.conf is read after postgresql.conf and is ours alone.
  write_new_file(
      data_dir() / "postgresql.auto.conf",
      fmt::format("listen_addresses = '{}'\n"
                  "port = {}\n"
                  "unix_socket_directories = '{}'\n"
                  "max_connections = {}\n"
                  "superuser_reserved_connections = {}\n"
                  // Throwaway data: durability costs time and nothing here needs it.
                  "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                  "shared_buffers = '32MB'\n"
                  // Fixed English messages: 53300's text is how libpq reports it.
                  "lc_messages = 'C'\n"
                  "log_line_prefix = '%m [%p] %q%a '\n"
                  // The structured log carries SQLSTATE, pid and application_name per line.
                  "logging_collector = on\nlog_destination = 'stderr,jsonlog'\n"
                  "log_directory = '{}'\n"
                  "log_filename = 'postgresql.log'\nlog_rotation_age = 0\nlog_rotation_size = 0\n"
                  "tcp_keepalives_idle = {}\ntcp_keepalives_interval = {}\n"
                  "tcp_keepalives_count = {}\ntcp_user_timeout = {}\n{}",
                  listen_address_, port_, pg_dir().string(), options.max_connections,
                  options.superuser_reserved_connections, (pg_dir() / "log").string(),
                  options.tcp_keepalives_idle_s, options.tcp_keepalives_interval_s,
                  options.tcp_keepalives_count, options.tcp_user_timeout_ms, hba),
      0644);
}

bool EmbeddedServer::launch(std::string& why) {
  uint64_t generation = 0;
  try {
    // SIGQUIT, should pgleak die: PostgreSQL's immediate shutdown.
    generation =
        child_->spawn({tool("postgres"), "-D", data_dir().string()},
                      {log_path().string(), run_as_, pg_dir().string(), SIGQUIT, netns_path_});
  } catch (const util::InfrastructureError& e) {
    why = e.what();
    return false;
  }
  // PostgreSQL says it is ready in postmaster.pid, as pg_ctl -w reads it.
  const bool ready = child_->wait_ready(
      generation, [&] { return says_ready(read_file(data_dir() / "postmaster.pid")); },
      std::chrono::seconds{60});
  if (!ready) {
    why = child_->exited(generation) ? log_tail() : "not ready after 60s:\n" + log_tail();
  }
  return ready;
}

bool EmbeddedServer::signal_and_wait(int sig, std::chrono::milliseconds timeout) {
  return child_ == nullptr || child_->signal_and_wait(sig, timeout);
}

std::unique_ptr<EmbeddedServer> EmbeddedServer::start(const EmbeddedServerOptions& options) {
  std::unique_ptr<EmbeddedServer> server{new EmbeddedServer};
  server->bin_dir_ = find_pg_bin_dir(options.bin_dir);
  server->run_as_ = server_account();
  server->netns_path_ = options.netns_path;
  server->listen_address_ = options.listen_address;
  server->make_private_dir();  // from here on the destructor removes it whatever fails
  server->init_cluster();
  server->launch_on_a_free_port(options);
  server->create_app_role(options);
  return server;
}

void EmbeddedServer::make_private_dir() {
  std::string pattern = (temp_base() / "pgleak-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw util::InfrastructureError("cannot create a temp dir under " + temp_base().string() +
                                    ": " + std::strerror(errno));
  }
  dir_ = pattern;
  lock_fd_ =
      ::open((dir_ / "lock").c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (lock_fd_ < 0 || ::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    throw util::InfrastructureError("cannot lock " + dir_.string() + ": " + std::strerror(errno));
  }
  const mode_t mode = run_dir_mode(run_as_);
  if (::chmod(dir_.c_str(), mode) != 0 || ::mkdir(pg_dir().c_str(), 0700) != 0) {
    throw util::InfrastructureError("cannot prepare " + dir_.string() + ": " +
                                    std::strerror(errno));
  }
  if (run_as_ && ::lchown(pg_dir().c_str(), run_as_->uid, run_as_->gid) != 0) {
    throw util::InfrastructureError("cannot give " + pg_dir().string() +
                                    " to postgres: " + std::strerror(errno));
  }
  // The path goes into postgresql.auto.conf between single quotes.
  if (dir_.string().find_first_of("'\\\n\r") != std::string::npos) {
    throw util::InfrastructureError(
        "the temp dir path holds a quote, backslash or line break, which PostgreSQL's settings "
        "cannot carry safely: set TMPDIR to a plain path");
  }
  check_socket_dir(pg_dir());
}

void EmbeddedServer::init_cluster() {
  const std::vector<std::string> initdb_options{"-A",     "trust", "-N",   "-U",
                                                "pgleak", "-E",    "UTF8", "--locale=C"};
  const auto initdb_log = (pg_dir() / "initdb.log").string();
  int init = 1;
  std::string note;
  if (const auto from = initdb_template(bin_dir_, initdb_options, run_as_, initdb_log, note)) {
    // A copy of the cached initdb output, made by the server's own account.
    init = run_program({"/bin/cp", "-a", "--", from->string(), data_dir().string()}, initdb_log,
                       run_as_, pg_dir().string());
    from_template_ = init == 0;
  }
  if (init != 0) {
    std::error_code ignored;
    fs::remove_all(data_dir(), ignored);  // a failed copy: initdb from scratch
    std::vector<std::string> argv{tool("initdb"), "-D", data_dir().string()};
    argv.insert(argv.end(), initdb_options.begin(), initdb_options.end());
    init = run_program(argv, initdb_log, run_as_, pg_dir().string());
  }
  if (init != 0) {
    const bool unreachable = init == 126 && run_as_;  // the child could not chdir
    throw util::InfrastructureError(fmt::format(
        "initdb failed (exit {}){}:\n{}", init,
        unreachable ? fmt::format("; the {} account cannot reach {} (every directory above it "
                                  "must be searchable by others: set TMPDIR to one that is)",
                                  run_as_->name, pg_dir().string())
                    : "",
        read_file(pg_dir() / "initdb.log")));
  }
}

void EmbeddedServer::launch_on_a_free_port(const EmbeddedServerOptions& options) {
  child_ = std::make_unique<KeptChild>();
  std::string why;
  bool up = false;
  for (int attempt = 0; attempt < 5 && !up; ++attempt) {
    port_ = free_loopback_port();
    write_settings(options);
    up = launch(why);
    if (!up && why.find("could not bind") == std::string::npos &&
        why.find("Address already in use") == std::string::npos) {
      throw util::InfrastructureError("PostgreSQL did not start:\n" + why);
    }
  }
  if (!up) {
    throw util::InfrastructureError("PostgreSQL did not start: no free port after 5 attempts");
  }
}

void EmbeddedServer::create_app_role(const EmbeddedServerOptions& options) const {
  try {
    db::OwnSession admin{superuser_conninfo(), db::own_name::kSetup};
    admin.query(fmt::format("CREATE ROLE pgleak_app LOGIN {} CONNECTION LIMIT {}",
                            options.app_role_superuser ? "SUPERUSER" : "NOSUPERUSER",
                            options.role_connection_limit.value_or(-1)));
    if (options.database_connection_limit) {
      admin.query(fmt::format("ALTER DATABASE postgres CONNECTION LIMIT {}",
                              *options.database_connection_limit));
    }
  } catch (const std::exception& e) {
    throw util::InfrastructureError(std::string{"cannot prepare the embedded server: "} + e.what());
  }
}

db::ConnInfo EmbeddedServer::superuser_conninfo() const {
  // In a namespace of its own the server is reached over TCP only through
  // the faults; pgleak's own sessions take the unix socket instead.
  return local_conninfo(netns_path_.empty() ? "127.0.0.1" : pg_dir().string(), port_, "postgres",
                        "pgleak");
}

db::ConnInfo EmbeddedServer::app_conninfo() const {
  return local_conninfo(listen_address_, port_, "postgres", "pgleak_app");
}

void EmbeddedServer::restart() {
  if (!signal_and_wait(SIGINT, std::chrono::seconds{30}) &&
      !signal_and_wait(SIGQUIT, std::chrono::seconds{10})) {
    throw util::InfrastructureError("the embedded server did not stop for its restart");
  }
  std::string why;
  if (!launch(why)) {
    throw util::InfrastructureError("the embedded server did not restart:\n" + why);
  }
}

void EmbeddedServer::stop(bool immediate) noexcept {
  if (dir_.empty()) {
    return;
  }
  if (child_) {
    (!immediate && signal_and_wait(SIGINT, std::chrono::seconds{10})) ||
        signal_and_wait(SIGQUIT, std::chrono::seconds{5}) ||
        signal_and_wait(SIGKILL, std::chrono::seconds{5});
    child_.reset();
  }
  std::error_code ec;
  fs::remove_all(dir_, ec);
  if (lock_fd_ >= 0) {
    ::close(lock_fd_);
    lock_fd_ = -1;
  }
  dir_.clear();
}

EmbeddedServer::~EmbeddedServer() {
  stop();
}

namespace {

// An open directory that must be a real directory (no symlink) owned by `uid`
// with exactly `mode`; -1 otherwise.
int open_owned_dir(int at, const char* name, uid_t uid, mode_t mode) {
  const int fd = ::openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    return -1;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_uid != uid || (st.st_mode & 07777) != mode) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// True when `pid` is the postmaster of the data directory open as `data_fd`:
// its working directory is that directory, and it runs as `uid`.
bool is_postmaster_of(pid_t pid, int data_fd, uid_t uid) {
  struct stat data {};
  struct stat cwd {};
  struct stat proc {};
  const auto base = "/proc/" + std::to_string(pid);
  return ::fstat(data_fd, &data) == 0 && ::stat((base + "/cwd").c_str(), &cwd) == 0 &&
         ::stat(base.c_str(), &proc) == 0 && cwd.st_dev == data.st_dev &&
         cwd.st_ino == data.st_ino && proc.st_uid == uid;
}

// Stops a leftover postmaster, but only once it is proven to be this
// cluster's own (see is_postmaster_of); immediate shutdown, then SIGKILL.
void stop_leftover_postmaster(int dir_fd, const std::optional<RunAs>& as) {
  const uid_t server_uid = as ? as->uid : ::geteuid();
  const int pg_fd = open_owned_dir(dir_fd, "pg", server_uid, 0700);
  if (pg_fd < 0) {
    return;
  }
  const int data_fd = open_owned_dir(pg_fd, "data", server_uid, 0700);
  ::close(pg_fd);
  if (data_fd < 0) {
    return;
  }
  const int pid_fd = ::openat(data_fd, "postmaster.pid", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  pid_t pid = 0;
  if (pid_fd >= 0) {
    char buf[32] = {};
    if (::read(pid_fd, buf, sizeof buf - 1) > 0) {
      pid = static_cast<pid_t>(std::atol(buf));
    }
    ::close(pid_fd);
  }
  for (const int sig : {SIGQUIT, SIGKILL}) {
    if (pid <= 1 || !is_postmaster_of(pid, data_fd, server_uid)) {
      break;
    }
    ::kill(pid, sig);
    for (int i = 0; i < 500 && is_postmaster_of(pid, data_fd, server_uid); ++i) {
      ::usleep(10'000);
    }
  }
  ::close(data_fd);
}

}  // namespace

int EmbeddedServer::reap_orphans() {
  std::optional<RunAs> as;
  try {
    as = server_account();
  } catch (const std::exception&) {
    return 0;
  }
  const auto base = temp_base();
  const int base_fd = ::open(base.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (base_fd < 0) {
    return 0;
  }
  int reaped = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator{base, ec}) {
    const auto name = entry.path().filename().string();
    if (name.rfind("pgleak-", 0) != 0) {
      continue;
    }
    // Ours: a directory (not a link) of our user with the mode we give it...
    const int dir_fd = open_owned_dir(base_fd, name.c_str(), ::geteuid(), run_dir_mode(as));
    if (dir_fd < 0) {
      continue;
    }
    // ...holding a lock file of ours that no live run holds.
    const int lock_fd = ::openat(dir_fd, "lock", O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    struct stat st {};
    const bool orphan = lock_fd >= 0 && ::fstat(lock_fd, &st) == 0 && S_ISREG(st.st_mode) &&
                        st.st_uid == ::geteuid() && st.st_nlink == 1 &&
                        ::flock(lock_fd, LOCK_EX | LOCK_NB) == 0;
    if (orphan) {
      stop_leftover_postmaster(dir_fd, as);
      // remove_all removes links themselves, never what they point to.
      fs::remove_all(entry.path(), ec);
      reaped += ec ? 0 : 1;
    }
    if (lock_fd >= 0) {
      ::close(lock_fd);
    }
    ::close(dir_fd);
  }
  ::close(base_fd);
  return reaped;
}

}  // namespace pgleak::server
