#pragma once

// A network namespace of the run's own, for faults the kernel makes: the
// embedded server runs inside it and listens on its end of a veth pair; the
// workers (or PgBouncer) reach it from pgleak's namespace across the pair.
// Faults are nft rules in the namespace's own table (`inet pgleak`), and
// socket aborts (`ss -K`) that send a real RST, so nothing outside the
// namespace is ever touched: no rule in the host's tables, no socket of
// anyone else's.
//
// Nothing is left behind:
//  - the namespace is `pgleak-<6 hex>`, its veth ends `pgl<6 hex>h` (pgleak's
//    side) and `pgl<6 hex>n`; its table goes with it;
//  - a lock file `/run/pgleak-net/<name>.lock`, flock()ed by the live run,
//    says who owns it; the destructor removes the namespace, its veth and
//    the lock;
//  - reap_orphans() removes namespaces named so whose lock nobody holds (a
//    run that was killed), before a run makes its own.
//
// Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and iproute2's `ip` and `ss`
// and nftables' `nft`; unavailable() says which is missing.
//
// Thread-safety: set_drops() and reset() may be called from any thread (one
// mutex); the rest from the thread that owns the namespace.

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace pgleak::net {

// Packets to drop between the clients and the server's port: all of them, or
// those of the given client ports only (a half-open client's).
struct Drop {
  int server_port = 0;
  std::vector<int> client_ports;  // empty: every client
};

class Namespace {
 public:
  // Why namespaces cannot be made here, or nothing when they can.
  static std::optional<std::string> unavailable();
  // Removes what killed runs left (namespace, veth, lock); returns how many.
  static int reap_orphans();
  // Makes a namespace with its veth pair, addresses and empty table. Throws
  // util::InfrastructureError (with what failed) and leaves nothing behind.
  static std::unique_ptr<Namespace> create();
  ~Namespace();
  Namespace(const Namespace&) = delete;
  Namespace& operator=(const Namespace&) = delete;

  const std::string& name() const { return name_; }
  std::string path() const;                                          // /run/netns/<name>
  const std::string& server_address() const { return ns_address_; }  // inside
  const std::string& host_address() const { return host_address_; }  // pgleak's end

  // Replaces every drop rule with `drops`, in one nft transaction.
  void set_drops(const std::vector<Drop>& drops);
  // Aborts the server's connected sockets on `server_port` (those whose
  // client port is in `client_ports`, or all when it is empty): the kernel
  // sends each client a RST, and each backend reads an error.
  void reset(int server_port, const std::vector<int>& client_ports);

 private:
  Namespace() = default;
  void run(const std::vector<std::string>& argv) const;
  std::string log_path() const;

  std::string id_;
  std::string name_;
  std::string host_if_;
  std::string ns_if_;
  std::string host_address_;
  std::string ns_address_;
  int lock_fd_ = -1;
  bool made_ = false;
  std::mutex mutex_;
};

}  // namespace pgleak::net
