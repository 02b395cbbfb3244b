#include "net/namespace.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>

#include "server/child_process.hpp"
#include "util/errors.hpp"

namespace pgleak::net {
namespace {

namespace fs = std::filesystem;

const fs::path kLockDir = "/run/pgleak-net";
const fs::path kNetnsDir = "/run/netns";
const std::regex kOurName{"pgleak-([0-9a-f]{6})"};

// The first of the usual places that holds `name`, or empty.
std::string find_tool(const char* name) {
  for (const char* dir : {"/usr/sbin", "/sbin", "/usr/bin", "/bin"}) {
    const auto path = fs::path{dir} / name;
    if (::access(path.c_str(), X_OK) == 0) {
      return path.string();
    }
  }
  return {};
}

// /run/pgleak-net: made if missing, and used only as a directory of root's
// own that nobody else may write (never through a symlink).
void check_lock_dir() {
  if (::mkdir(kLockDir.c_str(), 0700) != 0 && errno != EEXIST) {
    throw util::InfrastructureError(
        fmt::format("cannot create {}: {}", kLockDir.string(), std::strerror(errno)));
  }
  struct stat st {};
  if (::lstat(kLockDir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() ||
      (st.st_mode & 022) != 0) {
    throw util::InfrastructureError(
        fmt::format("{} is not a directory of pgleak's user that only it may write; remove it",
                    kLockDir.string()));
  }
}

// Whether this process has capability `bit` in its effective set.
bool has_capability(int bit) {
  std::ifstream status{"/proc/self/status"};
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("CapEff:", 0) == 0) {
      const auto mask = std::stoull(line.substr(7), nullptr, 16);
      return ((mask >> bit) & 1u) != 0;
    }
  }
  return false;
}

std::string lock_path(const std::string& name) {
  return (kLockDir / (name + ".lock")).string();
}

// The ns-side and host-side addresses of /30 block `block` of 10.213.0.0/16.
std::string address_in(uint32_t block, int host) {
  const uint32_t a = block * 4 + static_cast<uint32_t>(host);
  return fmt::format("10.213.{}.{}", (a >> 8) & 0xff, a & 0xff);
}

// Whether any interface here has an address in 10.213.<block>/30.
bool block_in_use(uint32_t block) {
  ifaddrs* all = nullptr;
  if (::getifaddrs(&all) != 0) {
    return true;
  }
  const uint32_t base = (10u << 24) | (213u << 16) | (block * 4);
  bool used = false;
  for (const ifaddrs* i = all; i != nullptr && !used; i = i->ifa_next) {
    if (i->ifa_addr != nullptr && i->ifa_addr->sa_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
      used = (ntohl(in->sin_addr.s_addr) & ~3u) == base;
    }
  }
  ::freeifaddrs(all);
  return used;
}

std::string port_set(const std::vector<int>& ports) {
  std::string set = "{ ";
  for (size_t i = 0; i < ports.size(); ++i) {
    set += (i == 0 ? "" : ", ") + std::to_string(ports[i]);
  }
  return set + " }";
}

void run_tool(const std::vector<std::string>& argv, const std::string& log) {
  const int status = server::run_program(argv, log, std::nullopt, "/", std::chrono::seconds{10});
  if (status != 0) {
    std::ifstream in{log};
    std::string text{std::istreambuf_iterator<char>{in}, {}};
    constexpr size_t kTail = 600;
    if (text.size() > kTail) {
      text = "..." + text.substr(text.size() - kTail);
    }
    throw util::InfrastructureError(fmt::format("{} {} exited with {}: {}", argv[0],
                                                argv.size() > 1 ? argv[1] : "", status, text));
  }
}

// Removes one namespace of ours and its host-side veth, ignoring what is gone.
void remove_namespace(const std::string& name, const std::string& id, const std::string& log) {
  const auto ip = find_tool("ip");
  for (const auto& argv : {std::vector<std::string>{ip, "link", "del", "pgl" + id + "h"},
                           std::vector<std::string>{ip, "netns", "del", name}}) {
    try {
      server::run_program(argv, log, std::nullopt, "/", std::chrono::seconds{10});
    } catch (const std::exception&) {  // nothing more to do: the next run reaps it
    }
  }
}

}  // namespace

std::optional<std::string> Namespace::unavailable() {
  if (::geteuid() != 0) {
    return "network faults need root (a network namespace, a veth pair and nft rules of the "
           "run's own); run pgleak as root, or drop the scenario's network section";
  }
  // Root in a container may lack them (docker run --cap-add NET_ADMIN --cap-add SYS_ADMIN).
  for (const auto& [bit, name] : {std::pair{12, "CAP_NET_ADMIN"}, std::pair{21, "CAP_SYS_ADMIN"}}) {
    if (!has_capability(bit)) {
      return fmt::format(
          "network faults need {} (a network namespace and nft rules of the run's own), which "
          "this root does not have: in a container, add it (docker run --cap-add NET_ADMIN "
          "--cap-add SYS_ADMIN), or use only the relay's faults (latency, bandwidth)",
          name);
    }
  }
  for (const char* tool : {"ip", "ss", "nft"}) {
    if (find_tool(tool).empty()) {
      return fmt::format("network faults need `{}` (apt-get install iproute2 nftables)", tool);
    }
  }
  return std::nullopt;
}

int Namespace::reap_orphans() {
  std::error_code ec;
  if (::geteuid() != 0 || !fs::is_directory(kNetnsDir, ec)) {
    return 0;
  }
  int reaped = 0;
  for (const auto& entry : fs::directory_iterator{kNetnsDir, ec}) {
    const auto name = entry.path().filename().string();
    std::smatch m;
    if (!std::regex_match(name, m, kOurName)) {
      continue;
    }
    const auto lock = lock_path(name);
    const int fd = ::open(lock.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);  // a live run's
      continue;
    }
    const auto log = (kLockDir / (name + ".log")).string();
    try {
      check_lock_dir();
      remove_namespace(name, m[1].str(), log);
      ++reaped;
    } catch (const std::exception&) {  // left for a run that can
    }
    ::unlink(log.c_str());
    if (fd >= 0) {
      ::unlink(lock.c_str());
      ::close(fd);
    }
  }
  return reaped;
}

std::unique_ptr<Namespace> Namespace::create() {
  if (auto why = unavailable()) {
    throw util::UsageError(*why);
  }
  check_lock_dir();
  std::unique_ptr<Namespace> ns{new Namespace};
  std::random_device random;
  uint32_t block = 0;
  for (int attempt = 0; attempt < 16 && ns->lock_fd_ < 0; ++attempt) {
    const uint32_t id = random() & 0xffffff;
    block = id & 0x3fff;
    ns->id_ = fmt::format("{:06x}", id);
    ns->name_ = "pgleak-" + ns->id_;
    ns->host_if_ = "pgl" + ns->id_ + "h";
    ns->ns_if_ = "pgl" + ns->id_ + "n";
    if (block_in_use(block) || ::if_nametoindex(ns->host_if_.c_str()) != 0) {
      continue;
    }
    const auto lock = lock_path(ns->name_);
    const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) == 0) {
      ns->lock_fd_ = fd;
    } else if (fd >= 0) {
      ::close(fd);
    }
  }
  if (ns->lock_fd_ < 0) {
    throw util::InfrastructureError("no free name and address for a network namespace");
  }
  ns->host_address_ = address_in(block, 1);
  ns->ns_address_ = address_in(block, 2);
  const auto ip = find_tool("ip");
  ns->made_ = true;  // from here on the destructor removes whatever was made
  ns->run({ip, "netns", "add", ns->name_});
  ns->run({ip, "link", "add", ns->host_if_, "type", "veth", "peer", "name", ns->ns_if_, "netns",
           ns->name_});
  ns->run({ip, "addr", "add", ns->host_address_ + "/30", "dev", ns->host_if_});
  ns->run({ip, "link", "set", ns->host_if_, "up"});
  ns->run({ip, "-n", ns->name_, "addr", "add", ns->ns_address_ + "/30", "dev", ns->ns_if_});
  ns->run({ip, "-n", ns->name_, "link", "set", ns->ns_if_, "up"});
  ns->run({ip, "-n", ns->name_, "link", "set", "lo", "up"});
  ns->run({ip, "netns", "exec", ns->name_, find_tool("nft"),
           "add table inet pgleak; "
           "add chain inet pgleak in { type filter hook input priority 0; policy accept; }; "
           "add chain inet pgleak out { type filter hook output priority 0; policy accept; }"});
  return ns;
}

Namespace::~Namespace() {
  if (made_) {
    remove_namespace(name_, id_, log_path());
  }
  ::unlink(log_path().c_str());
  if (lock_fd_ >= 0) {
    ::unlink(lock_path(name_).c_str());
    ::close(lock_fd_);
  }
}

std::string Namespace::path() const {
  return (kNetnsDir / name_).string();
}

std::string Namespace::log_path() const {
  return (kLockDir / (name_ + ".log")).string();
}

void Namespace::run(const std::vector<std::string>& argv) const {
  run_tool(argv, log_path());
}

void Namespace::set_drops(const std::vector<Drop>& drops) {
  std::string script = "flush chain inet pgleak in; flush chain inet pgleak out";
  for (const auto& d : drops) {
    if (d.client_ports.empty()) {
      script += fmt::format(
          "; add rule inet pgleak in tcp dport {0} drop"
          "; add rule inet pgleak out tcp sport {0} drop",
          d.server_port);
    } else {
      const auto set = port_set(d.client_ports);
      script += fmt::format(
          "; add rule inet pgleak in tcp dport {0} tcp sport {1} drop"
          "; add rule inet pgleak out tcp sport {0} tcp dport {1} drop",
          d.server_port, set);
    }
  }
  std::lock_guard lock{mutex_};
  run({find_tool("ip"), "netns", "exec", name_, find_tool("nft"), script});
}

void Namespace::reset(int server_port, const std::vector<int>& client_ports) {
  std::lock_guard lock{mutex_};
  const auto ip = find_tool("ip");
  const auto ss = find_tool("ss");
  const auto kill = [&](const std::string& filter) {
    run({ip, "netns", "exec", name_, ss, "-K", "-t", "-n", "state", "connected", filter});
  };
  if (client_ports.empty()) {
    kill(fmt::format("( sport = :{} )", server_port));
    return;
  }
  constexpr size_t kChunk = 64;  // keeps each filter short
  for (size_t from = 0; from < client_ports.size(); from += kChunk) {
    std::string any;
    for (size_t i = from; i < std::min(client_ports.size(), from + kChunk); ++i) {
      any += fmt::format("{}dport = :{}", i == from ? "" : " or ", client_ports[i]);
    }
    kill(fmt::format("( sport = :{} ) and ( {} )", server_port, any));
  }
}

}  // namespace pgleak::net
