// One hour of `pgleak monitor --record` at 1 s against 1,000 client
// backends, written by the real CaptureWriter to a real file: the capture's
// size per hour, by how many backends change between samples (0 %: all
// idle; 10 %; 100 %: every backend's state changes every second, the worst
// case). bench/capture.sh prints them as RESULT lines.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <random>

#include "capture/capture_file.hpp"

namespace {

using namespace pgleak;

void BM_CaptureHour(benchmark::State& state) {
  constexpr int kBackends = 1000;
  constexpr int kSamples = 3600;  // one hour at 1 s
  const double churn = static_cast<double>(state.range(0)) / 100;
  const auto path = std::filesystem::temp_directory_path() / "pgleak-bench-capture.gz";
  uint64_t bytes = 0;
  for (auto _ : state) {
    capture::CaptureHeader header;
    header.server.max_connections = 1100;
    header.started_at_unix = 1.8e9;
    header.interval_s = 1;
    capture::CaptureWriter writer{path.string(), header};
    std::mt19937 rng{42};
    std::uniform_real_distribution<double> coin{0, 1};
    capture::Snapshot s;
    for (int pid = 0; pid < kBackends; ++pid) {
      capture::Backend b;
      b.pid = 10000 + pid;
      b.application = "app-" + std::to_string(pid % 25);
      b.user = "app";
      b.client = "10.0.0." + std::to_string(pid % 250);
      b.backend_start = header.started_at_unix - 600;
      b.state = "idle";
      b.state_change = b.backend_start;
      b.fingerprint =
          capture::fingerprint(capture::normalize_query("SELECT * FROM t WHERE id = 1"));
      s.backends.push_back(b);
    }
    for (int i = 0; i < kSamples; ++i) {
      s.t_s = i;
      s.at_unix = header.started_at_unix + i;
      for (auto& b : s.backends) {
        if (coin(rng) < churn) {
          const bool active = b.state != "active";
          b.state = active ? "active" : "idle";
          b.state_change = s.at_unix;
          b.xact_start = active ? s.at_unix : 0;
        }
      }
      writer.add(s);
    }
    bytes = writer.close("duration").compressed_bytes;
  }
  std::filesystem::remove(path);
  state.counters["MB_per_hour"] = static_cast<double>(bytes) / 1e6;
}
BENCHMARK(BM_CaptureHour)->Arg(0)->Arg(10)->Arg(100)->Iterations(1)->Unit(benchmark::kSecond);

}  // namespace
