// Issue 7 on the real binary: what a root-run CI tool must never do. Reaping
// only what it made (planted directories, pids and links), output paths
// checked before a run, signals that end a run cleanly, waits that are
// bounded, and a target that is not ours left room.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <set>
#include <thread>

#include "../scratch_dir.hpp"
#include "../timeline_lines.hpp"
#include "binary_suite.hpp"
#include "record/record_json.hpp"
#include "server/embedded_server.hpp"
#include "silent_listener.hpp"
#include "subprocess.hpp"
#include "util/gzip_file.hpp"

namespace pgleak::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A TMPDIR for runs: the postgres account must reach its directories in it.
class Scratch : public ScratchDir {
 public:
  Scratch() : ScratchDir(0755) {}
};

void write(const fs::path& path, const std::string& text) {
  std::ofstream{path} << text;
}

std::string read_file(const fs::path& path) {
  std::ifstream in{path};
  return std::string(std::istreambuf_iterator<char>{in}, {});
}

bool alive(pid_t pid) {
  return ::kill(pid, 0) == 0;
}

// The cluster directory a run announces on stderr: "... (DIR)".
fs::path announced_dir(const std::string& err) {
  const auto open = err.find("(/");
  return open == std::string::npos ? fs::path{}
                                   : fs::path{err.substr(open + 1, err.find(')', open) - open - 1)};
}

pid_t postmaster_of(const fs::path& cluster) {
  std::ifstream pidfile{cluster / "pg" / "data" / "postmaster.pid"};
  pid_t pid = 0;
  pidfile >> pid;
  return pid;
}

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

const char* kShort = R"({"name": "short", "duration": "300ms", "sample_interval": "100ms",
  "server": {"max_connections": 10},
  "processes": [{"name": "p", "workers": [{"pattern": "scoped", "think_time": "50ms"}]}]})";

const char* kLong = R"({"name": "long", "duration": "10m", "sample_interval": "100ms",
  "server": {"max_connections": 10},
  "processes": [{"name": "p", "pool": {"pool_size": 2, "max_overflow": 0},
                 "workers": [{"pattern": "outside_loop", "count": 2, "think_time": "50ms"}]}]})";

// A directory that looks like a run's: the given owner and mode, a lock file.
void plant_run_dir(const fs::path& dir, uid_t uid, mode_t mode) {
  fs::create_directory(dir);
  write(dir / "lock", "");
  ASSERT_EQ(::chown((dir / "lock").c_str(), uid, uid), 0);
  ASSERT_EQ(::chown(dir.c_str(), uid, uid), 0);
  ASSERT_EQ(::chmod(dir.c_str(), mode), 0);
}

// --- 1. reaping only what pgleak made --------------------------------------------

TEST(RootSafety, PlantedDirectoriesPidsAndLinksAreNeverActedOn) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "needs root: the planted directories belong to another user";
  }
  Scratch tmp;
  // A live cluster of someone else's (here: this test's), and its directory.
  std::unique_ptr<server::EmbeddedServer> other;
  {
    ::setenv("TMPDIR", tmp.path().c_str(), 1);
    struct Restore {
      ~Restore() { ::unsetenv("TMPDIR"); }
    } restore;
    other = server::EmbeddedServer::start({});
  }
  const auto other_dir = other->dir();
  const pid_t other_postmaster = other->postmaster_pid();

  // An unrelated process whose pid is planted as a "postmaster".
  Subprocess victim{{"/bin/sleep", "60"}};
  const uid_t nobody = 65534;
  const mode_t ours = 0711;  // root running the server as postgres

  plant_run_dir(tmp / "pgleak-notmine", nobody, ours);           // another user's
  plant_run_dir(tmp / "pgleak-badmode", 0, 0777);                // ours, but not our mode
  fs::create_directory_symlink(other_dir, tmp / "pgleak-link");  // a link to a live cluster
  plant_run_dir(tmp / "pgleak-locklink", 0, ours);
  fs::remove(tmp / "pgleak-locklink" / "lock");
  fs::create_symlink(other_dir / "lock", tmp / "pgleak-locklink" / "lock");
  // Ours in every way, orphaned, with a planted pid: reaped, and the pid spared.
  plant_run_dir(tmp / "pgleak-planted", 0, ours);
  fs::create_directories(tmp / "pgleak-planted" / "pg" / "data");
  ::chmod((tmp / "pgleak-planted" / "pg").c_str(), 0700);
  ::chmod((tmp / "pgleak-planted" / "pg" / "data").c_str(), 0700);
  const auto postgres = server::server_account();
  ASSERT_TRUE(postgres);
  ::chown((tmp / "pgleak-planted" / "pg").c_str(), postgres->uid, postgres->gid);
  ::chown((tmp / "pgleak-planted" / "pg" / "data").c_str(), postgres->uid, postgres->gid);
  write(tmp / "pgleak-planted" / "pg" / "data" / "postmaster.pid",
        std::to_string(victim.pid()) + "\n");
  // The live cluster's own directory is also pgleak-shaped: its lock is held.

  write(tmp / "short.json", kShort);
  Subprocess run{
      {kBinary, "run", (tmp / "short.json").string(), "--report", (tmp / "r.json").string()},
      {"TMPDIR=" + tmp.path().string()}};
  EXPECT_EQ(run.wait_for(120s), 0) << run.err();
  EXPECT_NE(run.err().find("removed 1 cluster(s)"), std::string::npos) << run.err();

  EXPECT_FALSE(fs::exists(tmp / "pgleak-planted"));
  EXPECT_TRUE(alive(victim.pid())) << "a planted pid was signalled";
  for (const char* kept : {"pgleak-notmine", "pgleak-badmode", "pgleak-locklink"}) {
    EXPECT_TRUE(fs::exists(tmp / kept)) << kept;
  }
  EXPECT_TRUE(fs::is_symlink(tmp / "pgleak-link"));
  EXPECT_TRUE(fs::exists(other_dir / "pg" / "data"));
  EXPECT_EQ(other->postmaster_pid(), other_postmaster);
  EXPECT_TRUE(alive(other_postmaster)) << "another cluster was stopped";
  pqxx::connection still_up{other->superuser_conninfo().to_libpq()};
  EXPECT_TRUE(still_up.is_open());
}

TEST(RootSafety, AKilledRunTakesItsServerDownAndTheNextRunRemovesItsDirectory) {
  Scratch tmp;
  write(tmp / "long.json", kLong);
  write(tmp / "short.json", kShort);
  Subprocess run{
      {kBinary, "run", (tmp / "long.json").string(), "--report", (tmp / "r.json").string()},
      {"TMPDIR=" + tmp.path().string()}};
  ASSERT_TRUE(run.wait_for_stderr("run id", 60s)) << run.err();
  const auto cluster = announced_dir(run.err());
  const pid_t postmaster = postmaster_of(cluster);
  ASSERT_GT(postmaster, 0);
  // The timeline streams beside the report while the run goes.
  const auto timeline = tmp / "r.timeline.jsonl.gz";
  const auto sampled = [&] {
    return test_support::timeline_lines(timeline).size() >= 3;  // the header and two samples
  };
  ASSERT_TRUE(wait_until(sampled, 30s)) << "nothing reached the timeline while the run went";
  run.signal(SIGKILL);
  EXPECT_EQ(run.wait(), 128 + SIGKILL);
  // What was flushed before the kill reads back: header first, whole lines, no end line.
  const auto lines = test_support::timeline_lines(timeline);
  ASSERT_GE(lines.size(), 3u);
  EXPECT_EQ(lines.front()["type"], "header");
  EXPECT_NE(run.err().find(lines.front()["run_id"].get<std::string>()), std::string::npos);
  for (size_t i = 1; i < lines.size(); ++i) {
    EXPECT_NE(lines[i]["type"], "end");
    EXPECT_NE(lines[i]["type"], "header");
  }
  EXPECT_FALSE(fs::exists(tmp / "r.json"));  // the report is written at the end only
  // The kernel's parent-death signal: nothing to reap by hand, nobody to wait for.
  EXPECT_TRUE(wait_until([&] { return !alive(postmaster); }, 20s))
      << "the postmaster outlived the pgleak that started it";
  EXPECT_TRUE(fs::exists(cluster));  // only a directory is left
  Subprocess next{
      {kBinary, "run", (tmp / "short.json").string(), "--report", (tmp / "r2.json").string()},
      {"TMPDIR=" + tmp.path().string()}};
  EXPECT_EQ(next.wait_for(120s), 0) << next.err();
  EXPECT_NE(next.err().find("removed 1 cluster(s)"), std::string::npos) << next.err();
  EXPECT_FALSE(fs::exists(cluster));
}

// The initdb template cache: used only when provably pgleak's, else initdb.
class InitdbCache {
 public:
  explicit InitdbCache(const fs::path& dir) { ::setenv("PGLEAK_INITDB_CACHE", dir.c_str(), 1); }
  ~InitdbCache() { ::unsetenv("PGLEAK_INITDB_CACHE"); }
  InitdbCache(const InitdbCache&) = delete;
  InitdbCache& operator=(const InitdbCache&) = delete;
};

bool answers(const server::EmbeddedServer& s) {
  pqxx::connection c{s.superuser_conninfo().to_libpq()};
  pqxx::nontransaction tx{c};
  return tx.exec1("SELECT 1")[0].as<int>() == 1;
}

std::vector<fs::path> templates_in(const fs::path& cache) {
  std::vector<fs::path> found;
  for (const auto& e : fs::directory_iterator{cache}) {
    found.push_back(e.path());
  }
  return found;
}

TEST(RootSafety, ClustersAreCopiedFromATemplateOnlyWhenItIsProvablyPgleaks) {
  Scratch tmp;
  const auto cache = tmp / "cache";
  InitdbCache use{cache};
  {
    const auto first = server::EmbeddedServer::start({});
    EXPECT_TRUE(first->from_template());  // built now, then copied
    EXPECT_TRUE(answers(*first));
  }
  const auto made = templates_in(cache);
  ASSERT_EQ(made.size(), 1u);  // no build directory left beside it
  EXPECT_EQ(made[0].filename().string().rfind("pg-", 0), 0u) << made[0];
  struct stat st {};
  ASSERT_EQ(::lstat(made[0].c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  {
    const auto second = server::EmbeddedServer::start({});
    EXPECT_TRUE(second->from_template());
    EXPECT_TRUE(answers(*second));
  }

  // A template someone else owns is neither used nor touched.
  ASSERT_EQ(::chown(made[0].c_str(), 65534, 65534), 0);
  {
    const auto s = server::EmbeddedServer::start({});
    EXPECT_FALSE(s->from_template());
    EXPECT_TRUE(answers(*s));
  }
  ASSERT_EQ(::lstat(made[0].c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
  EXPECT_EQ(templates_in(cache).size(), 1u);

  // A cache anyone may write to is not trusted.
  ASSERT_EQ(::chmod(cache.c_str(), 0777), 0);
  {
    const auto s = server::EmbeddedServer::start({});
    EXPECT_FALSE(s->from_template());
  }
  EXPECT_EQ(templates_in(cache).size(), 1u);

  // Nor is a cache path that is a planted symlink: the directory it points to stays empty.
  const auto elsewhere = tmp / "elsewhere";
  fs::create_directory(elsewhere);
  fs::create_symlink(elsewhere, tmp / "linked");
  InitdbCache linked{tmp / "linked"};
  {
    const auto s = server::EmbeddedServer::start({});
    EXPECT_FALSE(s->from_template());
    EXPECT_TRUE(answers(*s));
  }
  EXPECT_TRUE(fs::is_empty(elsewhere));
}

// The pid of a pgbouncer whose command line names a file under `dir`, or 0.
pid_t pgbouncer_under(const fs::path& dir) {
  for (const auto& entry : fs::directory_iterator{"/proc"}) {
    std::ifstream cmdline{entry.path() / "cmdline"};
    std::string text{std::istreambuf_iterator<char>{cmdline}, {}};
    std::replace(text.begin(), text.end(), '\0', ' ');
    if (text.find("pgbouncer") != std::string::npos &&
        text.find(dir.string()) != std::string::npos) {
      return static_cast<pid_t>(std::atol(entry.path().filename().c_str()));
    }
  }
  return 0;
}

// PgBouncer, when pgleak starts one, goes with it as the server does: a
// SIGKILL'd pgleak leaves no PgBouncer running (the kernel's parent-death
// signal), and SIGTERM stops both in order.
TEST(RootSafety, AKilledRunTakesItsPgBouncerDownToo) {
  if (!fs::exists("/usr/sbin/pgbouncer")) {
    GTEST_SKIP() << "Debian's pgbouncer is not installed";
  }
  Scratch tmp;
  write(tmp / "pooled.json", R"({"name": "pooled", "duration": "10m", "sample_interval": "100ms",
    "pgbouncer": {"pool_mode": "transaction", "default_pool_size": 2},
    "processes": [{"name": "p", "pool": {"pool_size": 2, "max_overflow": 0},
                   "workers": [{"pattern": "scoped", "count": 2, "think_time": "50ms"}]}]})");
  for (const int sig : {SIGKILL, SIGTERM}) {
    Subprocess run{
        {kBinary, "run", (tmp / "pooled.json").string(), "--report", (tmp / "r.json").string()},
        {"TMPDIR=" + tmp.path().string()}};
    ASSERT_TRUE(run.wait_for_stderr("embedded PgBouncer", 60s)) << run.err();
    const auto cluster = announced_dir(run.err());
    const pid_t bouncer = pgbouncer_under(cluster);
    ASSERT_GT(bouncer, 0) << "no pgbouncer found for " << cluster;
    run.signal(sig);
    EXPECT_EQ(run.wait(), 128 + sig);
    EXPECT_TRUE(wait_until([&] { return !alive(bouncer); }, 20s))
        << "PgBouncer outlived the pgleak that started it (signal " << sig << ")";
  }
}

// --- 2. output paths ---------------------------------------------------------------

Finished pgleak(std::vector<std::string> args, std::chrono::seconds limit = 120s) {
  args.insert(args.begin(), kBinary);
  return run_to_end(args, {}, limit);
}

TEST(RootSafety, OutputPathsAreCheckedBeforeAnythingStarts) {
  Scratch tmp;
  write(tmp / "short.json", kShort);
  write(tmp / "file", "x");
  fs::create_directory(tmp / "adir");
  fs::create_symlink("/etc/passwd", tmp / "planted.json");
  fs::create_symlink("/etc/passwd", tmp / "planted2.timeline.jsonl.gz");
  const auto scenario = (tmp / "short.json").string();
  const struct {
    std::vector<std::string> args;
    std::string reason;
  } cases[] = {
      {{"--report", (tmp / "adir").string()}, "is a directory"},
      {{"--out", (tmp / "file" / "results").string()}, "Not a directory"},
      {{"--report", (tmp / "file" / "r.json").string()}, "Not a directory"},
      {{"--report", "/proc/version/r.json"}, "cannot write /proc/version/r.json"},
      {{"--report", (tmp / "planted.json").string()}, "symbolic link"},
      {{"--junit", (tmp / "adir").string()}, "is a directory"},
      {{"--report", (tmp / "r.json").string(), "--out", (tmp / "o").string()}, "excludes"},
      {{"--report", (tmp / "r.json").string(), "--junit", (tmp / "r.json").string()}, "same file"},
      {{"--report", (tmp / "r.json").string(), "--timeline", (tmp / "r.json").string()},
       "same file"},
      {{"--timeline", (tmp / "planted.json").string()}, "symbolic link"},
      // The default timeline, beside the report, is checked like the report.
      {{"--report", (tmp / "planted2.json").string()}, "symbolic link"},
      {{"--dsn", ""}, "--dsn is empty"},
      {{"--dsn", "host=h", "--dsn-file", (tmp / "file").string()}, "not both"},
      {{"--dsn-file", (tmp / "adir").string()}, "is a directory"},
      {{"--time-scale", "nan"}, "time_scale"},
      // An empty --shard is not "unsharded".
      {{"--shard", ""}, "must be I/N"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args{"run", scenario};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const auto r = pgleak(args);
    EXPECT_EQ(r.code, 2) << c.args[0] << " " << c.args[1] << ": " << r.err;
    EXPECT_NE(r.err.find(c.reason), std::string::npos) << c.args[1] << ": " << r.err;
    EXPECT_EQ(r.err.find("embedded PostgreSQL"), std::string::npos) << "a server was started";
    EXPECT_LT(r.seconds, 5.0);
  }
  EXPECT_EQ(std::string{fs::read_symlink(tmp / "planted.json")}, "/etc/passwd");
}

// The same file under two spellings is one file: outputs are compared with
// each other and with the command's inputs by device and inode when they
// exist, by canonical path when they do not, before anything starts.
TEST(RootSafety, OneFileUnderTwoSpellingsIsRefusedBeforeAnythingStarts) {
  Scratch tmp;
  write(tmp / "short.json", kShort);
  write(tmp / "r.json", "{}");
  fs::create_directory(tmp / "sub");
  fs::create_hard_link(tmp / "r.json", tmp / "hard.json");
  const auto scenario = (tmp / "short.json").string();
  const auto dotted = (tmp / "sub" / ".." / "r.json").string();
  const auto fresh = (tmp / "new.json").string();
  const auto fresh_dotted = (tmp / "sub" / ".." / "new.json").string();
  const struct {
    std::vector<std::string> args;
    std::string reason;
  } cases[] = {
      {{"run", scenario, "--report", fresh, "--timeline", fresh_dotted}, "same file"},
      {{"run", scenario, "--report", (tmp / "r.json").string(), "--junit", dotted}, "same file"},
      {{"run", scenario, "--report", (tmp / "hard.json").string(), "--html",
        (tmp / "r.json").string()},
       "same file"},
      {{"run", scenario, "--report", (tmp / "sub" / ".." / "short.json").string()},
       "overwrite its own input"},
      {{"report", (tmp / "r.json").string(), "--html", dotted}, "overwrite its own input"},
      {{"merge", (tmp / "r.json").string(), "--report", (tmp / "hard.json").string()},
       "overwrite its own input"},
      // A report written to a device has no "beside" for a bare --html.
      {{"run", scenario, "--report", "/dev/null", "--html"}, "give --html a path"},
  };
  for (const auto& c : cases) {
    const auto r = pgleak(c.args);
    EXPECT_EQ(r.code, 2) << c.args[0] << " " << c.args[2] << ": " << r.err;
    EXPECT_NE(r.err.find(c.reason), std::string::npos) << c.args[2] << ": " << r.err;
    EXPECT_EQ(r.err.find("embedded PostgreSQL"), std::string::npos) << "a server was started";
  }
  EXPECT_EQ(read_file(tmp / "r.json"), "{}");
  EXPECT_FALSE(fs::exists("/dev/null.html"));
}

// An output on a FIFO whose reader holds it open and never reads: the write
// waits, but a signal ends it (it used to sit in write() until SIGKILL). The
// HTML page is larger than a pipe's buffer, so its write must wait.
TEST(RootSafety, AStalledFifoReaderCannotHoldPgleakPastASignal) {
  Scratch tmp;
  write(tmp / "short.json", kShort);
  const auto fifo = tmp / "page.html";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(reader, 0);
  Subprocess p{{kBinary, "run", (tmp / "short.json").string(), "--report",
                (tmp / "r.json").string(), "--html", fifo.string(), "--quiet"}};
  // The JSON report is written before the HTML: then the write to the FIFO waits.
  ASSERT_TRUE(wait_until([&] { return fs::exists(tmp / "r.json"); }, 60s)) << p.err();
  p.signal(SIGTERM);
  const auto signalled = Clock::now();
  const int code = p.wait_for(30s);
  const double seconds = std::chrono::duration<double>(Clock::now() - signalled).count();
  ::close(reader);
  EXPECT_EQ(code, 128 + SIGTERM) << p.err();  // the HTML failed; the JSON report stands
  EXPECT_LT(seconds, 5.0);                    // a tenth of a second's poll, and the exit
  EXPECT_NE(p.err().find("interrupted by a signal"), std::string::npos) << p.err();
  EXPECT_EQ(read_json(tmp / "r.json")["run"]["status"], "completed");
}

TEST(RootSafety, DevicesAreWrittenInPlaceAndAFailedJunitLosesNoReport) {
  Scratch tmp;
  write(tmp / "short.json", kShort);
  const auto to_null = pgleak({"run", (tmp / "short.json").string(), "--report", "/dev/null"});
  EXPECT_EQ(to_null.code, 0) << to_null.err;
  struct stat st {};
  ASSERT_EQ(::stat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode)) << "/dev/null was replaced by a file";

  // A FIFO nobody reads: the JUnit write fails after the run, the JSON stays.
  ASSERT_EQ(::mkfifo((tmp / "junit.fifo").c_str(), 0600), 0);
  const auto r = pgleak({"run", (tmp / "short.json").string(), "--report",
                         (tmp / "r.json").string(), "--junit", (tmp / "junit.fifo").string()});
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_NE(r.err.find("a FIFO with no reader"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("the JSON report was written"), std::string::npos) << r.err;
  EXPECT_EQ(read_json(tmp / "r.json")["run"]["status"], "completed");
  EXPECT_NE(r.out.find("short: PASS"), std::string::npos) << r.out;  // the summary too
  // No temporary file is left next to the report.
  std::set<std::string> entries;
  for (const auto& e : fs::directory_iterator{tmp.path()}) {
    entries.insert(e.path().filename().string());
  }
  EXPECT_EQ(entries,
            (std::set<std::string>{"short.json", "r.json", "r.timeline.jsonl.gz", "junit.fifo"}));
}

// --- 3. signals and hangs ----------------------------------------------------------

TEST(RootSafety, SighupEndsTheRunLikeSigint) {
  Scratch tmp;
  write(tmp / "long.json", kLong);
  Subprocess p{
      {kBinary, "run", (tmp / "long.json").string(), "--report", (tmp / "r.json").string()}};
  ASSERT_TRUE(p.wait_for_stderr("run id", 60s)) << p.err();
  const auto cluster = announced_dir(p.err());
  const pid_t postmaster = postmaster_of(cluster);
  p.signal(SIGHUP);
  EXPECT_EQ(p.wait_for(60s), 128 + SIGHUP) << p.err();
  EXPECT_FALSE(fs::exists(cluster));
  EXPECT_FALSE(alive(postmaster));
  EXPECT_EQ(read_json(tmp / "r.json")["run"]["status"], "interrupted");
}

TEST(RootSafety, AClosedStdoutNeverKillsTheRun) {
  // pgleak run ... | head: the reader goes away; pgleak must finish and clean up.
  Scratch tmp;
  write(tmp / "short.json", kShort);
  Subprocess p{
      {kBinary, "run", (tmp / "short.json").string(), "--report", (tmp / "r.json").string()}};
  p.close_stdout();
  ASSERT_TRUE(p.wait_for_stderr("run id", 60s)) << p.err();
  const auto cluster = announced_dir(p.err());
  EXPECT_EQ(p.wait_for(60s), 0) << p.err();  // not 128 + SIGPIPE
  EXPECT_FALSE(fs::exists(cluster));
  EXPECT_EQ(read_json(tmp / "r.json")["run"]["status"], "completed");
}

TEST(RootSafety, ATargetThatNeverAnswersCannotHangRunOrMonitor) {
  SilentListener silent;
  const auto dsn = "host=127.0.0.1 port=" + std::to_string(silent.port()) + " user=u dbname=d";
  Scratch tmp;
  write(tmp / "short.json", kShort);
  // Bounded by the DSN's connect_timeout (2 s, libpq's minimum)...
  const auto bounded = pgleak({"run", (tmp / "short.json").string(), "--dsn",
                               dsn + " connect_timeout=2", "--report", (tmp / "r.json").string()},
                              30s);
  EXPECT_EQ(bounded.code, 3) << bounded.err;
  EXPECT_NE(bounded.err.find("timeout expired"), std::string::npos) << bounded.err;
  EXPECT_GE(bounded.seconds, 1.9);
  EXPECT_LT(bounded.seconds, 8.0);
  // ...and by a signal at once, for run and for monitor: the listener's queue
  // holding pgleak's connection is the event that says it is waiting.
  for (const std::vector<std::string>& command :
       {std::vector<std::string>{"run", (tmp / "short.json").string(), "--dsn", dsn},
        std::vector<std::string>{"monitor", "--dsn", dsn}}) {
    std::vector<std::string> argv{kBinary};
    argv.insert(argv.end(), command.begin(), command.end());
    Subprocess p{argv};
    ASSERT_TRUE(silent.wait_for_client(20s)) << command[0];
    const auto signalled = Clock::now();
    p.signal(SIGINT);
    EXPECT_EQ(p.wait_for(5s), 128 + SIGINT) << command[0] << ": " << p.err();
    EXPECT_LT(Clock::now() - signalled, 2s) << command[0];
  }
}

// A server that stops answering mid-run (every process of it SIGSTOPped): a
// second Ctrl-C ends the run within seconds, and once the server resumes none
// of the run's backends remain.
TEST(RootSafety, ASecondSignalForcesAFastExitFromAHungServer) {
  server::EmbeddedServerOptions options;
  options.max_connections = 20;
  auto server = server::EmbeddedServer::start(options);
  Scratch tmp;
  write(tmp / "long.json", kLong);
  Subprocess p{{kBinary, "run", (tmp / "long.json").string(), "--dsn",
                server->app_conninfo().to_libpq(), "--report", (tmp / "r.json").string()}};
  ASSERT_TRUE(p.wait_for_stderr("connections 2/", 60s)) << p.err();
  // Every process of the server: the postmaster and its children.
  std::vector<pid_t> tree{server->postmaster_pid()};
  for (const auto& e : fs::directory_iterator{"/proc"}) {
    std::ifstream stat{e.path() / "stat"};
    std::string pid, comm, state;
    pid_t ppid = 0;
    if (stat >> pid >> comm >> state >> ppid && ppid == server->postmaster_pid()) {
      tree.push_back(std::stoi(pid));
    }
  }
  for (const pid_t pid : tree) {
    ::kill(pid, SIGSTOP);
  }
  p.signal(SIGINT);
  // Two signals sent back to back would merge into one: wait for the first.
  ASSERT_TRUE(p.wait_for_stderr("a second signal", 20s)) << p.err();
  p.signal(SIGINT);
  const auto signalled = Clock::now();
  const int code = p.wait_for(30s);
  const auto took = Clock::now() - signalled;
  for (const pid_t pid : tree) {
    ::kill(pid, SIGCONT);
  }
  EXPECT_EQ(code, 128 + SIGINT) << p.err();
  EXPECT_LT(took, 10s);
  const auto report = read_json(tmp / "r.json");
  EXPECT_EQ(report["run"]["status"], "interrupted");
  const auto run_id = report["run"]["id"].get<std::string>();
  pqxx::connection admin{server->superuser_conninfo().to_libpq()};
  int left = -1;
  wait_until(
      [&] {
        pqxx::nontransaction tx{admin};
        left = tx.exec1(
                     "SELECT count(*)::int FROM pg_stat_activity WHERE strpos(application_name, "
                     "'/" +
                     run_id + "/') > 0")[0]
                   .as<int>();
        return left == 0;
      },
      20s);
  EXPECT_EQ(left, 0);
}

// --- 6. a server that is not ours --------------------------------------------------

// Every file pgleak reads is bounded near what pgleak itself writes, counted
// or streamed rather than kept: under a 1 GiB address-space limit, input a
// few hundred KiB long that would once have taken gigabytes is refused with
// exit 2 (the file and the bound named), never killed nor exit 3.
TEST(RootSafety, EveryReaderIsBoundedUnderAMemoryLimit) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "an address-space limit and a sanitizer's shadow memory do not mix";
#endif
  Scratch tmp;
  const auto limited = [](std::vector<std::string> args) {
    args.insert(args.begin(), {"/usr/bin/prlimit", "--as=1073741824", "--", kBinary});
    return run_to_end(args, {}, 120s);
  };
  // A killed shard's timeline of 2,000,000 events: read a line at a time
  // into a recorder that keeps 20,000 (then refused: no shard reported the scenario).
  {
    util::GzipFile gz{(tmp / "shard-0.timeline.jsonl.gz").string()};
    gz.write(record::json_line({{"run_id", "memory"},
                                {"scenario_digest", "0"},
                                {"shard", {{"index", 0}, {"count", 1}, {"run_name", "m"}}}},
                               "header"));
    record::Event e;
    e.t_s = 1;
    e.kind = record::kQueryError;
    const auto line = record::json_line(record::event_json(e), "event");
    std::string block;
    for (int i = 0; i < 10000; ++i) {
      block += line;
    }
    for (int i = 0; i < 200; ++i) {
      gz.write(block);
    }
    gz.close();
  }
  EXPECT_LT(fs::file_size(tmp / "shard-0.timeline.jsonl.gz"), 4u << 20);
  const auto merged = limited({"merge", (tmp / "shard-0.timeline.jsonl.gz").string(), "--report",
                               (tmp / "merged.json").string()});
  EXPECT_EQ(merged.code, 2) << merged.err;
  EXPECT_EQ(merged.err.find("bad_alloc"), std::string::npos) << merged.err;
  // A report past what pgleak writes is refused before it is parsed.
  {
    std::ofstream big{tmp / "big.json"};
    const std::string mib(1 << 20, ' ');
    big << "{";
    for (int i = 0; i < 65; ++i) {
      big << mib;
    }
    big << "}";
  }
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"report", (tmp / "big.json").string(), "--html",
                                 (tmp / "big.html").string()},
        std::vector<std::string>{"compare", (tmp / "big.json").string(),
                                 (tmp / "big.json").string()},
        std::vector<std::string>{"merge", (tmp / "big.json").string(), "--report",
                                 (tmp / "m2.json").string()}}) {
    const auto r = limited(args);
    EXPECT_EQ(r.code, 2) << args[0] << ": " << r.err;
    EXPECT_NE(r.err.find("big.json"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("larger than"), std::string::npos) << r.err;
  }
}

// --server-log given a line that never ends (300 MiB appended during the
// run, without a newline): the follower keeps at most 1 MiB of a line, so
// the run, under a 1 GiB address-space limit, completes; the report says a
// line was skipped. (It kept the whole line: 574 MiB of RSS.)
TEST(RootSafety, AServerLogLineWithoutEndCannotGrowTheRun) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "an address-space limit and a sanitizer's shadow memory do not mix";
#endif
  server::EmbeddedServerOptions options;
  options.max_connections = 20;
  auto server = server::EmbeddedServer::start(options);
  Scratch tmp;
  write(tmp / "two.json", R"({"name": "two", "duration": "3s", "sample_interval": "100ms",
    "processes": [{"name": "p", "workers": [{"pattern": "scoped", "think_time": "50ms"}]}]})");
  const auto log = tmp / "server.json";
  write(log, "");
  Subprocess p{{"/usr/bin/prlimit", "--as=1073741824", "--", kBinary, "run",
                (tmp / "two.json").string(), "--dsn", server->app_conninfo().to_libpq(),
                "--server-log", log.string(), "--report", (tmp / "r.json").string()}};
  ASSERT_TRUE(p.wait_for_stderr("run id", 60s)) << p.err();
  {
    std::ofstream out{log, std::ios::app};
    const std::string mib(1 << 20, 'x');
    for (int i = 0; i < 300; ++i) {
      out << mib;
    }
  }
  EXPECT_EQ(p.wait_for(120s), 0) << p.err();
  const auto note = read_json(tmp / "r.json")["server_log"]["note"];
  ASSERT_TRUE(note.is_string()) << note.dump();
  EXPECT_NE(note.get<std::string>().find("1 line over 1048576 bytes (skipped)"), std::string::npos)
      << note.dump();
}

TEST(RootSafety, ATargetTheScenarioWouldExhaustIsRefusedUnlessAllowed) {
  server::EmbeddedServerOptions options;
  options.max_connections = 12;  // 9 for ordinary roles
  auto server = server::EmbeddedServer::start(options);
  std::vector<std::unique_ptr<pqxx::connection>> others;
  for (int i = 0; i < 5; ++i) {
    others.push_back(std::make_unique<pqxx::connection>(server->app_conninfo().to_libpq()));
  }
  Scratch tmp;
  write(tmp / "five.json", R"({"name": "five", "duration": "1s", "sample_interval": "100ms",
    "pool": {"pool_size": 3, "max_overflow": 2},
    "processes": [{"name": "p", "workers": [{"pattern": "held_by_object", "count": 5}]}]})");
  const auto dsn = server->app_conninfo().to_libpq();
  const auto refused = pgleak(
      {"run", (tmp / "five.json").string(), "--dsn", dsn, "--report", (tmp / "r.json").string()});
  EXPECT_EQ(refused.code, 2) << refused.err;
  EXPECT_NE(refused.err.find("already has 5 client connections"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("--allow-exhaust"), std::string::npos);
  EXPECT_FALSE(fs::exists(tmp / "r.json"));

  const auto allowed = pgleak({"run", (tmp / "five.json").string(), "--dsn", dsn, "--report",
                               (tmp / "r.json").string(), "--allow-exhaust"});
  EXPECT_EQ(allowed.code, 1) << allowed.err;  // refused connections: server_limit
  const auto report = read_json(tmp / "r.json");
  EXPECT_EQ(report["budget"]["other_clients"], 6);  // 5 before + the sampler
  EXPECT_GT(report["summary"]["connect_attempts"].get<int>(), 5);
}

TEST(RootSafety, FailedConnectsBackOffWhenTheServerDies) {
  server::EmbeddedServerOptions options;
  options.max_connections = 30;
  auto server = server::EmbeddedServer::start(options);
  Scratch tmp;
  write(tmp / "busy.json", R"({"name": "busy", "duration": "10m", "sample_interval": "100ms",
    "pool": {"pool_size": 8, "max_overflow": 0},
    "processes": [{"name": "p", "workers": [{"pattern": "scoped", "count": 8}]}]})");
  Subprocess p{{kBinary, "run", (tmp / "busy.json").string(), "--dsn",
                server->app_conninfo().to_libpq(), "--report", (tmp / "r.json").string()}};
  ASSERT_TRUE(p.wait_for_stderr("s  connections 8/", 60s)) << p.err();  // the progress line
  server->stop(/*immediate=*/true);
  EXPECT_EQ(p.wait_for(60s), 3) << p.err();  // the target was lost
  const auto report = read_json(tmp / "r.json");
  EXPECT_EQ(report["run"]["status"], "target_lost");
  // Eight workers with no think time for about 3 s after the loss: a retry
  // loop without backoff made tens of thousands of attempts.
  const auto attempts = report["summary"]["connect_attempts"].get<int>();
  ::testing::Test::RecordProperty("connect_attempts", attempts);
  EXPECT_GE(attempts, 8);
  EXPECT_LT(attempts, 400);
}

}  // namespace
}  // namespace pgleak::testing

namespace pgleak::testing {
namespace {

// --- 5. secrets and other people's screens ------------------------------------------

std::string cmdline_of(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/cmdline"};
  std::string all{std::istreambuf_iterator<char>{in}, {}};
  std::replace(all.begin(), all.end(), '\0', ' ');
  return all;
}

TEST(Secrets, NoPasswordOnTheCommandLineOrInAnyOutput) {
  server::EmbeddedServerOptions options;
  options.max_connections = 30;
  auto server = server::EmbeddedServer::start(options);
  {
    pqxx::connection admin{server->superuser_conninfo().to_libpq()};
    pqxx::nontransaction tx{admin};
    tx.exec("ALTER ROLE pgleak_app PASSWORD 'Zx9-secret-Qw'");
  }
  Scratch tmp;
  write(tmp / "long.json", kLong);
  write(tmp / "short.json", kShort);
  const std::string secret = "Zx9-secret-Qw";
  const auto port = std::to_string(server->port());
  const auto url = "postgresql://pgleak_app:" + secret + "@127.0.0.1:" + port + "/postgres";

  // On the command line: overwritten in pgleak's own argv as soon as it is read.
  Subprocess p{{kBinary, "run", (tmp / "long.json").string(), "--dsn", url, "--report",
                (tmp / "r.json").string()}};
  ASSERT_TRUE(p.wait_for_stderr("run id", 60s)) << p.err();
  const auto shown = cmdline_of(p.pid());
  EXPECT_EQ(shown.find(secret), std::string::npos) << shown;
  EXPECT_NE(shown.find("--dsn"), std::string::npos) << shown;
  p.signal(SIGINT);
  EXPECT_EQ(p.wait_for(60s), 130) << p.err();
  EXPECT_EQ(p.err().find(secret), std::string::npos);
  std::ifstream report{tmp / "r.json"};
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>{report}, {}).find(secret),
            std::string::npos);

  // Nothing secret on the command line at all: a file, the environment, PGPASSWORD.
  write(tmp / "dsn", url + "\n");
  const auto from_file = pgleak({"run", (tmp / "short.json").string(), "--dsn-file",
                                 (tmp / "dsn").string(), "--report", (tmp / "f.json").string()});
  EXPECT_EQ(from_file.code, 0) << from_file.err;
  EXPECT_EQ(read_json(tmp / "f.json")["target"]["kind"], "external");
  for (const std::vector<std::string>& env :
       {std::vector<std::string>{"PGLEAK_DSN=" + url},
        std::vector<std::string>{
            "PGLEAK_DSN=host=127.0.0.1 port=" + port + " user=pgleak_app dbname=postgres",
            "PGPASSWORD=" + secret}}) {
    Subprocess q{
        {kBinary, "run", (tmp / "short.json").string(), "--report", (tmp / "e.json").string()},
        env};
    EXPECT_EQ(q.wait_for(60s), 0) << q.err();
    EXPECT_EQ(q.err().find(secret), std::string::npos);
    EXPECT_EQ(q.out().find(secret), std::string::npos);
    EXPECT_EQ(read_json(tmp / "e.json")["target"]["kind"], "external");
  }
  // A wrong password fails without showing either.
  const auto wrong = pgleak({"run", (tmp / "short.json").string(), "--dsn",
                             "postgresql://pgleak_app:Wr0ng-Pass@127.0.0.1:" + port + "/postgres"});
  EXPECT_EQ(wrong.code, 0) << "trust auth: the embedded server accepts any password";
  EXPECT_EQ(wrong.err.find("Wr0ng-Pass"), std::string::npos);
}

// A DSN where pgleak did not expect one is never echoed: as a stray
// argument (a forgotten --dsn, which the argument parser would name), as a
// --dsn-file name, or as a second line of a DSN file.
TEST(Secrets, AMisplacedDsnIsNeverEchoed) {
  Scratch tmp;
  write(tmp / "short.json", kShort);
  const std::string secret = "Zx9-stray-Qw";
  const auto url = "postgresql://app:" + secret + "@127.0.0.1:1/postgres";
  write(tmp / "two-lines",
        "host=127.0.0.1 port=1 user=app dbname=postgres\npassword=" + secret + "\n");
  const std::vector<std::vector<std::string>> cases = {
      {"run", (tmp / "short.json").string(), url},
      {"run", (tmp / "short.json").string(), "--dsn-file", url},
      {"run", (tmp / "short.json").string(), "--dsn-file", (tmp / "two-lines").string()},
      {"monitor", "host=127.0.0.1 password=" + secret},
      {"run", (tmp / "short.json").string(), "--dsn",
       "host=127.0.0.1 dbname='a\nb' password=" + secret},
  };
  for (const auto& args : cases) {
    const auto r = pgleak(args);
    EXPECT_EQ(r.code, 2) << args.back() << ": " << r.err;
    EXPECT_EQ(r.err.find(secret), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find(secret), std::string::npos) << r.out;
    EXPECT_EQ(r.err.find("embedded PostgreSQL"), std::string::npos) << "a server was started";
  }
}

TEST(Secrets, MonitorEscapesWhatOtherSessionsWrite) {
  server::EmbeddedServerOptions options;
  options.max_connections = 20;
  auto server = server::EmbeddedServer::start(options);
  auto forged = server->app_conninfo();
  // An ordinary user clears the screen and draws a reassuring line.
  forged.set("application_name", "\x1b[2J\x1b[Hall fine");
  pqxx::connection session{forged.to_libpq()};
  pqxx::nontransaction tx{session};
  tx.exec("BEGIN");
  tx.exec(
      "SELECT '\x1b[31m\xc2\x9b"
      "2J forged' AS x");
  const auto r = pgleak({"monitor", "--dsn", server->superuser_conninfo().to_libpq()});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("\xc2\x9b"), std::string::npos) << r.out;
  // (PostgreSQL itself turns the name's escapes into '?'; the query text it keeps.)
  EXPECT_NE(r.out.find("\\x1b[31m\\u009b2J forged"), std::string::npos) << r.out;
  const auto j = pgleak({"monitor", "--dsn", server->superuser_conninfo().to_libpq(), "--json"});
  EXPECT_EQ(j.out.find('\x1b'), std::string::npos);
  EXPECT_EQ(j.out.find("\xc2\x9b"), std::string::npos) << j.out;
  EXPECT_NE(j.out.find("\\u001b[31m\\u009b2J forged"), std::string::npos) << j.out;
}

}  // namespace
}  // namespace pgleak::testing
