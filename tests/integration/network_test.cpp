// Issue 21 on the real binary, the real kernel and a real PostgreSQL 15:
// each network fault's effect on both sides (what the clients saw, with
// libpq's own text; what the server logged; how long it kept the backends
// the fault cut off), and that no namespace, veth or nft table outlives a
// run, however it ends. Needs root, iproute2 and nftables: skips, saying
// which is missing, without them.
//
// The figures are the kernel's (keepalive probes, SYN and data
// retransmission), so the bounds are wide on the slow side: a loaded
// machine makes a timer late, never early.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>

#include "../loopback_listener.hpp"
#include "../scratch_dir.hpp"
#include "../timeline_lines.hpp"
#include "binary_suite.hpp"
#include "net/namespace.hpp"
#include "subprocess.hpp"

namespace pgleak::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

class Scratch : public ScratchDir {
 public:
  Scratch() : ScratchDir(0755) {}  // the postgres account reaches its cluster in it
};

// Why this machine cannot run the suite, or nothing.
std::optional<std::string> cannot_run() {
  return net::Namespace::unavailable();
}

// A scenario of one process `api` with `workers`, a pool of 2, and `extra`
// merged in (network faults, server and connect settings).
std::string scenario(const std::string& name, const std::string& duration, const json& worker,
                     const json& extra) {
  json sc = {{"name", name},
             {"duration", duration},
             {"sample_interval", "100ms"},
             {"pool", {{"pool_size", 2}, {"max_overflow", 0}}},
             {"processes", {{{"name", "api"}, {"workers", {worker}}}}}};
  sc.merge_patch(extra);
  return sc.dump();
}

json worker(const std::string& pattern, const std::string& think) {
  return {{"name", "w"}, {"pattern", pattern}, {"count", 2}, {"think_time", think}};
}

struct Run {
  int code = 0;
  json report;
  std::string err;
};

Run run(Scratch& tmp, const std::string& name, const std::string& text) {
  const auto file = tmp / (name + ".json");
  std::ofstream{file} << text;
  const auto report = tmp / (name + ".report.json");
  const auto done =
      run_to_end({kBinary, "run", file.string(), "--report", report.string(), "--timeline", "none"},
                 {"TMPDIR=" + tmp.path().string()}, 3min);
  Run r{done.code, json(), done.err};
  if (fs::exists(report)) {
    r.report = read_json(report);
  }
  return r;
}

// A run that went to its end: exit 0 or 1 (the verdict is not what these
// tests judge; a step into a full pool is read as growth), and a report.
::testing::AssertionResult completed(const Run& r) {
  if ((r.code != 0 && r.code != 1) || r.report.is_null() ||
      r.report.at("run").at("status") != "completed") {
    return ::testing::AssertionFailure() << "exit " << r.code << ": " << r.err;
  }
  return ::testing::AssertionSuccess();
}

std::vector<json> events(const json& report, const std::string& kind) {
  std::vector<json> found;
  for (const auto& e : report.at("events")) {
    if (e.at("kind") == kind) {
      found.push_back(e);
    }
  }
  return found;
}

int count_with(const std::vector<json>& evs, const std::string& text) {
  int n = 0;
  for (const auto& e : evs) {
    n += e.at("message").get<std::string>().find(text) != std::string::npos ? 1 : 0;
  }
  return n;
}

// The namespace a run announced: "network namespace pgleak-xxxxxx: ...".
std::string announced_namespace(const std::string& err) {
  const auto at = err.find("network namespace pgleak-");
  return at == std::string::npos ? std::string{} : err.substr(at + 18, 13);
}

// Whether anything of namespace `name` (pgleak-<id>) is left: the namespace
// (and with it its nft table), the host end of its veth, its lock file.
std::string leftovers(const std::string& name) {
  const auto id = name.substr(7);
  std::string left;
  if (fs::exists("/run/netns/" + name)) {
    left += " namespace";
  }
  if (::if_nametoindex(("pgl" + id + "h").c_str()) != 0) {
    left += " veth";
  }
  if (fs::exists("/run/pgleak-net/" + name + ".lock")) {
    left += " lock";
  }
  return left;
}

// The kernel's faults: each test skips, saying why, where this machine cannot
// make them.
class NetworkFaults : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = cannot_run()) {
      GTEST_SKIP() << *why;
    }
  }
};
class NetworkRootSafety : public NetworkFaults {};

TEST_F(NetworkFaults, HalfOpenBackendsLiveUntilTheServersKeepalivesGiveUp) {
  Scratch tmp;
  const json fault = {{"network", {{"faults", {{{"at", "2s"}, {"action", "half_open"}}}}}}};
  auto tuned = fault;
  tuned["server"] = {{"tcp_keepalives_idle", "2s"},
                     {"tcp_keepalives_interval", "1s"},
                     {"tcp_keepalives_count", 3}};
  const auto t =
      run(tmp, "tuned", scenario("t-tuned", "11s", worker("idle_in_transaction", "60s"), tuned));
  ASSERT_TRUE(completed(t));
  const auto& nt = t.report.at("network").at(0);
  EXPECT_EQ(nt.at("cut_off"), 2);
  EXPECT_EQ(nt.at("left"), 0);
  // Silent for idle (2 s) after its last packet, then 3 probes 1 s apart:
  // gone about 5 s after the last packet, which came before the cut.
  EXPECT_GE(nt.at("lived_s").at("min").get<double>(), 2.5);
  EXPECT_LE(nt.at("lived_s").at("max").get<double>(), 8.5);
  const auto logged = events(t.report, "server_log");
  EXPECT_EQ(count_with(logged, "could not receive data from client: Connection timed out"), 2);
  EXPECT_EQ(count_with(logged, "unexpected EOF on client connection with an open transaction"), 2);
  EXPECT_GE(t.report.at("summary").at("server_errors_by_sqlstate").value("08006", 0), 2);

  // Linux's defaults (2 hours idle) keep them, and their transactions, to the end.
  const auto d =
      run(tmp, "default", scenario("t-default", "8s", worker("idle_in_transaction", "60s"), fault));
  ASSERT_TRUE(completed(d));
  const auto& nd = d.report.at("network").at(0);
  EXPECT_EQ(nd.at("cut_off"), 2);
  EXPECT_EQ(nd.at("left"), 2);
  EXPECT_EQ(nd.at("unchecked"), 0);
  EXPECT_TRUE(nd.at("lived_s").is_null());
  EXPECT_EQ(d.report.at("summary").at("final_connections"), 2);
  EXPECT_EQ(count_with(events(d.report, "server_log"), "could not receive data"), 0);
  // As the run stops, pgleak ends them itself: no 5 s wait for the clean-up's safety net.
  EXPECT_EQ(count_with(events(d.report, "fault"), "ended 2 backends the network faults left"), 1);
  EXPECT_EQ(d.report.at("cleanup").at("leftover_backends_terminated"), 0);
}

TEST_F(NetworkFaults, AResetEndsEveryBackendAtOnceAndEachClientSeesItsConnectionLost) {
  Scratch tmp;
  const json fault = {{"network", {{"faults", {{{"at", "2s"}, {"action", "reset"}}}}}}};
  const auto r =
      run(tmp, "reset", scenario("t-reset", "5s", worker("idle_in_transaction", "1s"), fault));
  ASSERT_TRUE(completed(r));
  const auto& n = r.report.at("network").at(0);
  EXPECT_EQ(n.at("cut_off"), 2);
  EXPECT_EQ(n.at("left"), 0);
  EXPECT_LT(n.at("lived_s").at("max").get<double>(), 1.0);  // gone by the first look
  const auto logged = events(r.report, "server_log");
  EXPECT_EQ(
      count_with(logged, "could not receive data from client: Software caused connection abort"),
      2);
  // The clients: libpq's words on their next statement, and no SQLSTATE.
  const auto lost = events(r.report, "connection_lost");
  ASSERT_GE(lost.size(), 2u);
  EXPECT_EQ(count_with(lost, "server closed the connection unexpectedly"),
            static_cast<int>(lost.size()));
  for (const auto& e : lost) {
    EXPECT_TRUE(e.at("sqlstate").is_null()) << e.dump();
    EXPECT_GE(e.at("t_s").get<double>(), n.at("began_s").get<double>());
  }
}

TEST_F(NetworkFaults, AConnectIntoABlackholeGivesUpOnlyWithConnectTimeout) {
  Scratch tmp;
  const json fault = {
      {"network", {{"faults", {{{"at", "0s"}, {"action", "blackhole"}, {"for", "4s"}}}}}}};
  auto bounded = fault;
  bounded["pool"] = {{"connect", {{"connect_timeout", "1500ms"}}}};
  const auto b =
      run(tmp, "bounded", scenario("t-bounded", "7s", worker("scoped", "200ms"), bounded));
  ASSERT_TRUE(completed(b));
  const auto failed = events(b.report, "connect_error");
  ASSERT_GE(failed.size(), 2u);  // each worker, at least once in 4 s
  EXPECT_EQ(count_with(failed, "timeout expired"), static_cast<int>(failed.size()));
  // pgleak keeps connect_timeout to the millisecond (db/pg_connection.cpp),
  // where libpq would round it to whole seconds: 1.5 s, never less.
  EXPECT_GE(failed.front().at("t_s").get<double>(), 1.45);
  EXPECT_LE(failed.front().at("t_s").get<double>(), 3.0);
  EXPECT_GE(b.report.at("summary").at("connects").get<int>(), 1);  // after it lifted

  // Without connect_timeout only the kernel's SYN retries (1, 2, 4 s apart)
  // bound a connect: the first checkouts wait past the blackhole, silently.
  const auto u =
      run(tmp, "unbounded", scenario("t-unbounded", "9s", worker("scoped", "200ms"), fault));
  ASSERT_TRUE(completed(u));
  EXPECT_TRUE(events(u.report, "connect_error").empty());
  const auto& s = u.report.at("summary");
  EXPECT_EQ(s.at("connect_failures"), 0);
  EXPECT_GE(s.at("checkout_wait_ms").at("max").get<double>(), 4000);
  EXPECT_LE(s.at("checkout_wait_ms").at("max").get<double>(), 8500);
  EXPECT_GE(s.at("connects").get<int>(), 1);
}

TEST_F(NetworkFaults, ABlackholeMidRunLeavesTheBackendsWhileTheClientsGiveUp) {
  Scratch tmp;
  const json extra = {{"pool", {{"connect", {{"tcp_user_timeout", "1s"}}}}},
                      {"network", {{"faults", {{{"at", "2s"}, {"action", "blackhole"}}}}}}};
  const auto r = run(tmp, "mid", scenario("t-mid", "7s", worker("scoped", "200ms"), extra));
  ASSERT_TRUE(completed(r));
  // The client: its statement's unacknowledged data outlives tcp_user_timeout,
  // and libpq says the connection is gone (no SQLSTATE).
  const auto lost = events(r.report, "connection_lost");
  ASSERT_EQ(lost.size(), 2u) << r.report.at("events").dump();
  for (const auto& e : lost) {
    EXPECT_TRUE(e.at("sqlstate").is_null());
    EXPECT_GE(e.at("t_s").get<double>(), 2.9);
    EXPECT_LE(e.at("t_s").get<double>(), 6.5);
  }
  // The server heard nothing: both backends are there at the end.
  const auto& n = r.report.at("network").at(0);
  EXPECT_EQ(n.at("cut_off"), 2);
  EXPECT_EQ(n.at("left"), 2);
  EXPECT_TRUE(n.at("ended_s").is_null());
}

TEST_F(NetworkFaults, APartitionThatHealsCostsTimeButNoConnection) {
  Scratch tmp;
  const json fault = {
      {"network", {{"faults", {{{"at", "2s"}, {"action", "partition"}, {"for", "3s"}}}}}}};
  const auto r = run(tmp, "heal", scenario("t-heal", "9s", worker("scoped", "200ms"), fault));
  ASSERT_TRUE(completed(r));
  const auto& n = r.report.at("network").at(0);
  const double lasted = n.at("ended_s").get<double>() - n.at("began_s").get<double>();
  EXPECT_GE(lasted, 2.95);
  EXPECT_LE(lasted, 4.0);
  EXPECT_EQ(n.at("cut_off"), 2);
  EXPECT_EQ(n.at("left"), 2);  // the same backends carry on
  const auto& s = r.report.at("summary");
  EXPECT_EQ(s.at("connects"), 2);
  EXPECT_EQ(s.at("connections_lost"), 0);
  EXPECT_TRUE(s.at("errors_by_sqlstate").empty());
  // Work went on after the heal: units done after it, on the same two backends.
  EXPECT_GE(s.at("checkouts").get<int>(), 10);
}

// Some pool timeouts, and each while the report's first network fault lasted
// (from half a second after it began, a pool_timeout's wait, to one second
// after it ended).
void expect_pool_timeouts_only_in_the_window(const json& report) {
  const auto& n = report.at("network").at(0);
  const auto timeouts = events(report, "pool_timeout");
  EXPECT_GE(timeouts.size(), 1u) << report.at("summary").dump();
  for (const auto& e : timeouts) {
    EXPECT_GE(e.at("t_s").get<double>(), n.at("began_s").get<double>() + 0.5);
    EXPECT_LE(e.at("t_s").get<double>(), n.at("ended_s").get<double>() + 1.0);
  }
}

// 12 scoped workers, each back after 100 ms.
json twelve_workers() {
  auto w = worker("scoped", "100ms");
  w["count"] = 12;
  return w;
}

// A pool of 3 that waits at most 500ms: enough for twelve_workers() until 40 ms
// of latency each way comes, at 2 s, for `lasts`.
json pool_under_latency(const std::string& lasts) {
  return {
      {"pool", {{"pool_size", 3}, {"pool_timeout", "500ms"}}},
      {"network",
       {{"faults", {{{"at", "2s"}, {"action", "latency"}, {"delay", "40ms"}, {"for", lasts}}}}}}};
}

// The relay's faults need no root: these run everywhere.
TEST(RelayFaults, LatencyTurnsAFittingPoolIntoPoolTimeoutsWhileItLasts) {
  Scratch tmp;
  const auto r =
      run(tmp, "latency", scenario("t-latency", "8s", twelve_workers(), pool_under_latency("4s")));
  ASSERT_TRUE(completed(r));
  const auto& n = r.report.at("network").at(0);
  const double lasted = n.at("ended_s").get<double>() - n.at("began_s").get<double>();
  EXPECT_GE(lasted, 3.95);
  EXPECT_LE(lasted, 5.0);
  expect_pool_timeouts_only_in_the_window(r.report);
  EXPECT_EQ(r.report.at("summary").at("peak_connections"), 3);
  EXPECT_TRUE(r.report.at("summary").at("server_errors_by_sqlstate").empty());
  EXPECT_NE(r.err.find("relay on 127.0.0.1:"), std::string::npos);
}

// With pgleak's own PgBouncer the relay stands between PgBouncer and the
// server: PgBouncer's server connections carry the latency, and the
// application's checkouts still feel it.
TEST(RelayFaults, BehindPgBouncerTheLatencyIsBetweenPgBouncerAndTheServer) {
  if (!fs::exists("/usr/sbin/pgbouncer")) {
    GTEST_SKIP() << "Debian's pgbouncer is not installed";
  }
  Scratch tmp;
  auto extra = pool_under_latency("3s");
  extra["pgbouncer"] = {{"pool_mode", "transaction"}, {"default_pool_size", 3}};
  const auto r = run(tmp, "pooled", scenario("t-pooled", "6s", twelve_workers(), extra));
  ASSERT_TRUE(completed(r));
  EXPECT_NE(r.err.find("between PgBouncer and the server"), std::string::npos) << r.err;
  expect_pool_timeouts_only_in_the_window(r.report);
}

TEST(RelayFaults, ABandwidthCapStretchesEveryTransfer) {
  Scratch tmp;
  const json extra = {{"pool", {{"pool_size", 1}}},
                      {"network",
                       {{"faults",
                         {{{"at", "0s"},
                           {"action", "bandwidth"},
                           {"rate", "200KB/s"},
                           {"direction", "to_client"}}}}}}};
  auto w = worker("scoped", "0ms");
  w["count"] = 1;
  w["query"] = "SELECT repeat('x', 100000)";  // 100 KB: half a second each at 200KB/s
  const auto r = run(tmp, "thin", scenario("t-thin", "4s", w, extra));
  ASSERT_TRUE(completed(r));
  const int checkouts = r.report.at("summary").at("checkouts").get<int>();
  EXPECT_GE(checkouts, 3);
  EXPECT_LE(checkouts, 9);  // 4 s / 0.5 s, and the first burst
  EXPECT_TRUE(r.report.at("summary").at("errors_by_sqlstate").empty());
}

// `pgleak relay` alone: refuses what it cannot use (exit 2), relays until a
// signal, and says what it carried.
TEST(RelayCommand, RelaysUntilASignalAndSaysWhatItCarried) {
  for (const auto& [args, says] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--to", "nohost"}, "--to: must be HOST:PORT"},
           {{"--to", "db:99999"}, "port must be a number from 1 to 65535"},
           {{"--to", "db:5432", "--delay", "fast"}, "--delay:"},
           {{"--to", "db:5432", "--bandwidth", "5"}, "--bandwidth: must be a rate"},
           {{"--to", "db:5432", "--direction", "up"}, "--direction"}}) {
    std::vector<std::string> argv{kBinary, "relay"};
    argv.insert(argv.end(), args.begin(), args.end());
    const auto done = run_to_end(argv);
    EXPECT_EQ(done.code, 2) << done.err;
    EXPECT_NE(done.err.find(says), std::string::npos) << done.err;
  }
  // A server that only takes what it is sent.
  const auto listener = test_support::listen_on_loopback(4);
  ASSERT_GE(listener.fd, 0);
  const int server = listener.fd;
  Subprocess relay{
      {kBinary, "relay", "--to", "127.0.0.1:" + std::to_string(listener.port), "--delay", "5ms"}};
  ASSERT_TRUE(relay.wait_for_stderr("relaying 127.0.0.1:", 30s)) << relay.err();
  const auto at = relay.err().find("relaying 127.0.0.1:") + 19;
  const int port = std::stoi(relay.err().substr(at));
  const int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  ASSERT_EQ(::connect(client, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::send(client, "hello", 5, MSG_NOSIGNAL), 5);
  const int accepted = ::accept(server, nullptr, nullptr);  // the relay's upstream
  ASSERT_GE(accepted, 0);
  char got[5] = {};
  size_t have = 0;
  while (have < sizeof got) {
    const ssize_t n = ::recv(accepted, got + have, sizeof got - have, 0);
    ASSERT_GT(n, 0);
    have += static_cast<size_t>(n);
  }
  EXPECT_EQ(std::string(got, 5), "hello");
  relay.signal(SIGTERM);
  EXPECT_EQ(relay.wait_for(30s), 128 + SIGTERM) << relay.err();
  EXPECT_NE(relay.err().find("relayed 1 connections (0 aborted), 5 bytes to the server"),
            std::string::npos)
      << relay.err();
  for (const int fd : {accepted, client, server}) {
    ::close(fd);
  }
}

// Out of file descriptors, the relay's listener rests instead of waking its
// loop on every turn, and says so when it stops.
TEST(RelayCommand, OutOfDescriptorsItWaitsIdleAndSaysSo) {
  if (!fs::exists("/usr/bin/prlimit")) {
    GTEST_SKIP() << "needs prlimit (util-linux)";
  }
  const auto listener = test_support::listen_on_loopback(64);
  ASSERT_GE(listener.fd, 0);
  // 3 standard streams, the relay's epoll, eventfd and listener, and room for
  // about two connections (two descriptors each) before accept() fails.
  Subprocess relay{{"/usr/bin/prlimit", "--nofile=12", kBinary, "relay", "--to",
                    "127.0.0.1:" + std::to_string(listener.port)}};
  ASSERT_TRUE(relay.wait_for_stderr("relaying 127.0.0.1:", 30s)) << relay.err();
  const auto at = relay.err().find("relaying 127.0.0.1:") + 19;
  const int port = std::stoi(relay.err().substr(at));
  std::vector<int> clients;
  for (int i = 0; i < 8; ++i) {
    const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    ASSERT_EQ(::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);  // the backlog takes it
    clients.push_back(c);
  }
  rusage before{};
  ::getrusage(RUSAGE_CHILDREN, &before);
  std::this_thread::sleep_for(500ms);  // what it does meanwhile is what is measured
  relay.signal(SIGTERM);
  EXPECT_EQ(relay.wait_for(30s), 128 + SIGTERM) << relay.err();
  rusage after{};
  ::getrusage(RUSAGE_CHILDREN, &after);
  const auto cpu_ms = [](const rusage& r) {
    return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1000.0 +
           (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1000.0;
  };
  // The children this process reaped in between: the relay alone.
  EXPECT_LT(cpu_ms(after) - cpu_ms(before), 250.0)
      << "the relay spun on a listener it could not accept from";
  EXPECT_NE(relay.err().find("accepts failed for want of file descriptors"), std::string::npos)
      << relay.err();
  for (const int c : clients) {
    ::close(c);
  }
  ::close(listener.fd);
}

// Starts a run of a long fault, waits until the fault has begun (its event in
// the timeline), and returns the namespace it announced.
std::string start_mid_fault(Scratch& tmp, std::optional<Subprocess>& p, const std::string& tag) {
  const json fault = {
      {"network", {{"faults", {{{"at", "1s"}, {"action", "partition"}, {"for", "60s"}}}}}}};
  std::ofstream{tmp / (tag + ".json")}
      << scenario("t-" + tag, "60s", worker("scoped", "200ms"), fault);
  const auto timeline = tmp / (tag + ".timeline.jsonl.gz");
  p.emplace(std::vector<std::string>{kBinary, "run", (tmp / (tag + ".json")).string(), "--report",
                                     (tmp / (tag + ".report.json")).string(), "--timeline",
                                     timeline.string()},
            std::vector<std::string>{"TMPDIR=" + tmp.path().string()});
  if (!p->wait_for_stderr("network namespace pgleak-", 60s)) {
    return {};
  }
  const auto began = [&] {
    for (const auto& line : test_support::timeline_lines(timeline)) {
      if (line.value("kind", "") == "fault") {
        return true;
      }
    }
    return false;
  };
  for (int i = 0; i < 600 && !began(); ++i) {
    std::this_thread::sleep_for(50ms);  // polling a file: there is no event to await
  }
  return began() ? announced_namespace(p->err()) : std::string{};
}

TEST_F(NetworkRootSafety, ASignalMidFaultLeavesNoNamespaceVethOrTable) {
  for (const int sig : {SIGINT, SIGTERM}) {
    Scratch tmp;
    std::optional<Subprocess> p;
    const auto name = start_mid_fault(tmp, p, "sig");
    ASSERT_FALSE(name.empty()) << p->err();
    ASSERT_EQ(leftovers(name), " namespace veth lock");  // what there is to remove
    p->signal(sig);
    const int code = p->wait_for(60s);
    EXPECT_NE(code, -1) << "signal " << sig << " did not end the run: " << p->err();
    EXPECT_EQ(leftovers(name), "") << "after signal " << sig;
    EXPECT_TRUE(fs::exists(tmp / "sig.report.json")) << "an interrupted run still reports";
  }
}

TEST_F(NetworkRootSafety, AKilledRunsNamespaceIsRemovedByTheNextRun) {
  Scratch tmp;
  std::optional<Subprocess> p;
  const auto name = start_mid_fault(tmp, p, "kill");
  ASSERT_FALSE(name.empty()) << p->err();
  p->signal(SIGKILL);
  EXPECT_EQ(p->wait(), 128 + SIGKILL);
  EXPECT_EQ(leftovers(name), " namespace veth lock");  // nobody could remove them
  const json fault = {{"network", {{"faults", {{{"at", "1s"}, {"action", "reset"}}}}}}};
  const auto next = run(tmp, "next", scenario("t-next", "2s", worker("scoped", "200ms"), fault));
  EXPECT_TRUE(completed(next));
  EXPECT_NE(next.err.find("removed 1 network namespace(s) left behind"), std::string::npos)
      << next.err;
  EXPECT_EQ(leftovers(name), "");
  EXPECT_EQ(leftovers(announced_namespace(next.err)), "");
}

TEST(NetworkRefusals, WithoutRootANetworkScenarioIsRefusedBeforeAnythingStarts) {
  if (::geteuid() != 0 || !fs::exists("/usr/bin/setpriv")) {
    GTEST_SKIP() << "needs root to drop to nobody, and setpriv";
  }
  Scratch tmp;
  const json fault = {{"network", {{"faults", {{{"at", "1s"}, {"action", "reset"}}}}}}};
  std::ofstream{tmp / "net.json"} << scenario("t-refused", "2s", worker("scoped", "200ms"), fault);
  const auto out = tmp / "out";
  fs::create_directory(out);
  fs::permissions(out, fs::perms::all);  // nobody may write its report there
  const auto done =
      run_to_end({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", kBinary,
                  "run", (tmp / "net.json").string(), "--report", (out / "r.json").string()},
                 {"TMPDIR=" + out.string()}, 1min);
  EXPECT_EQ(done.code, 2) << done.err;
  EXPECT_NE(done.err.find("network faults need root"), std::string::npos) << done.err;
  EXPECT_EQ(done.err.find("embedded PostgreSQL"), std::string::npos) << done.err;
  EXPECT_FALSE(fs::exists(out / "r.json"));
}

// Root without CAP_NET_ADMIN (a container's root, as often as not): the
// kernel's faults are refused, saying what to add; the relay's still run.
TEST(NetworkRefusals, RootWithoutNetAdminRunsOnlyTheRelaysFaults) {
  if (::geteuid() != 0 || !fs::exists("/usr/bin/setpriv")) {
    GTEST_SKIP() << "needs root, to drop CAP_NET_ADMIN, and setpriv";
  }
  Scratch tmp;
  const auto without = [&](const std::string& name, const json& faults) {
    std::ofstream{tmp / (name + ".json")} << scenario("t-" + name, "2s", worker("scoped", "200ms"),
                                                      {{"network", {{"faults", faults}}}});
    return run_to_end({"/usr/bin/setpriv", "--bounding-set=-net_admin", kBinary, "run",
                       (tmp / (name + ".json")).string(), "--report",
                       (tmp / (name + ".report.json")).string(), "--timeline", "none"},
                      {"TMPDIR=" + tmp.path().string()}, 2min);
  };
  const auto kernel = without("kernel", {{{"at", "1s"}, {"action", "reset"}}});
  EXPECT_EQ(kernel.code, 2) << kernel.err;
  EXPECT_NE(kernel.err.find("network faults need CAP_NET_ADMIN"), std::string::npos) << kernel.err;
  EXPECT_NE(kernel.err.find("--cap-add NET_ADMIN"), std::string::npos);
  EXPECT_EQ(kernel.err.find("embedded PostgreSQL"), std::string::npos)
      << "refused before it starts";
  const auto relay = without("relay", {{{"at", "1s"}, {"action", "latency"}, {"delay", "5ms"}}});
  EXPECT_TRUE(relay.code == 0 || relay.code == 1) << relay.err;
  EXPECT_TRUE(fs::exists(tmp / "relay.report.json")) << relay.err;
}

}  // namespace
}  // namespace pgleak::testing
