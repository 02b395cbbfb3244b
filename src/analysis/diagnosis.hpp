#pragma once

// `pgleak diagnose`: a capture of a live server (capture/) read into what
// each application did with its connections, in findings a user can act on.
// An application is what capture::application_of names. Pure; a builder is
// used by one thread.

#include <map>
#include <string>
#include <vector>

#include "analysis/growth.hpp"
#include "capture/capture.hpp"
#include "capture/capture_file.hpp"

namespace pgleak::analysis {

enum class AppFindingKind {
  kHeldWithoutCommit,   // sessions idle in transaction whose transaction only aged
  kDuplicateProcesses,  // groups of connections that started together, each a pool
  kGrowing,             // connections that grew without levelling off
  kLongStatements,      // statements active for long
  kHealthy,
};
std::string_view to_string(AppFindingKind kind);

struct AppFinding {
  AppFindingKind kind;
  std::string evidence;  // what was seen, in numbers
  std::string advice;    // what to do about it
};

// A session held idle in transaction: the time it was first seen so.
struct HeldSession {
  int pid = 0;
  double since_s = 0;  // its transaction's start, seconds into the capture
  double age_s = 0;    // the longest it was seen held
};

struct AppDiagnosis {
  std::string application;
  int peak = 0;
  double peak_at_s = 0;
  int final_count = 0;
  std::map<std::string, int> at_peak_by_state;
  std::vector<HeldSession> held;  // sessions held without commit
  // Groups of backends that started together (within kStartGap of each
  // other), and their median size: several processes with a pool each.
  int start_groups = 0;
  int group_size = 0;
  double group_gap_s = 0;  // median time between the groups' starts
  double idle_share = 0;   // of its connection-samples, the share idle
  Growth growth;
  double longest_active_s = 0;
  int held_when_full = 0;  // its connections when the server was first full
  // What the server logged of its backends (the capture's --server-log), by
  // SQLSTATE: 25P03 sessions ended idle in transaction, 57014 statements
  // cancelled, 57P01 backends terminated, ...
  std::map<std::string, uint64_t> server_errors;
  std::vector<AppFinding> findings;

  bool healthy() const;
  bool duplicates() const;
};

struct CaptureDiagnosis {
  capture::ServerLimits server;
  int limit = 0;  // max_connections - superuser_reserved_connections
  double span_s = 0;
  double interval_s = 0;
  uint64_t snapshots = 0;
  bool cut = false;
  int peak_total = 0;
  double peak_total_at_s = 0;
  uint64_t snapshots_full = 0;  // samples with every slot for ordinary roles taken
  double first_full_at_s = -1;
  // Refusals the server logged (53300, 53400), and who held the slots at the
  // sample before the first: application -> connections.
  uint64_t refusals = 0;
  double first_refusal_at_s = -1;
  std::map<std::string, int> held_at_first_refusal;
  bool server_log = false;         // the capture holds any line of the server's log
  std::vector<AppDiagnosis> apps;  // by peak, largest first
  // For drawing: the whole server by state, with each application's
  // connections as a "pool" (process = application), at most kDrawnSamples
  // (every other one dropped as it grows); and the log's first kDrawnLogLines.
  std::vector<record::Sample> samples;
  std::vector<capture::LogLine> log_lines;
};

class DiagnosisBuilder {
 public:
  // What a capture holds: feed every snapshot in order, then finish.
  void add(const capture::CaptureHeader& header, const capture::Snapshot& snapshot);
  // A line of the server's log, in the order the capture holds it.
  void add_log(const capture::LogLine& line);
  CaptureDiagnosis finish(const capture::CaptureRead& read);

  // How far apart two backends' starts may be and still be one group, and
  // how long a statement is "long".
  static constexpr double kStartGap = 0.5;
  static constexpr double kLongActive = 10;
  // A session idle in transaction this long, over this many samples with one
  // transaction, is held.
  static constexpr double kHeldAfter = 5;
  static constexpr int kHeldSamples = 3;
  static constexpr size_t kDrawnSamples = 1500;
  static constexpr size_t kDrawnLogLines = 4000;

 private:
  struct Tracked {  // a backend as last seen
    std::string app;
    double backend_start = 0;
    double xact_start = 0;
    int idle_xact_samples = 0;
    bool held = false;
  };
  struct App {
    std::vector<record::Sample> series;  // its connections over time (own = count)
    std::vector<double> starts;          // backend starts, seconds into the capture
    std::map<int, HeldSession> held;     // by pid (a reused pid: the later)
    AppDiagnosis d;
    uint64_t idle_samples = 0;
    uint64_t all_samples = 0;
  };
  void track(const capture::Backend& b, App& app, double now, double start);
  void thin_series();

  capture::CaptureHeader header_;
  bool have_header_ = false;
  std::map<int, Tracked> backends_;
  std::map<std::string, App> apps_;
  std::map<std::string, int> last_counts_;  // application -> connections, last snapshot
  CaptureDiagnosis d_;
  double last_t_ = 0;
};

// Reads the capture at `path` (util::read_regular_file, bounded) and builds
// its diagnosis. Throws util::UsageError naming the file.
CaptureDiagnosis diagnose_capture(const std::string& path);

}  // namespace pgleak::analysis
