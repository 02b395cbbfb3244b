// pgleak's own cost per checkout/check-in, against an in-memory connection:
// this is what pgleak adds on top of every round trip it measures.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <mutex>
#include <thread>
#include <vector>

#include "db/connection.hpp"
#include "fiber/fiber.hpp"
#include "pool/queue_pool.hpp"

namespace {

class NullConnection final : public pgleak::db::Connection {
 public:
  void execute(std::string_view) override {}
  void begin() override {}
  void commit() override {}
  void rollback() override {}
  void ping() override {}
  void set_application_name(const std::string& n) override { app_ = n; }
  pgleak::db::TxState tx_state() const noexcept override { return pgleak::db::TxState::kIdle; }
  int backend_pid() const noexcept override { return 1; }
  const std::string& application_name() const noexcept override { return app_; }
  void close() noexcept override {}

 private:
  std::string app_ = "bench";
};

class NullFactory final : public pgleak::db::ConnectionFactory {
 public:
  std::unique_ptr<pgleak::db::Connection> open(const pgleak::db::ConnectRequest&) override {
    return std::make_unique<NullConnection>();
  }
};

pgleak::pool::PoolConfig pool_3_5(pgleak::util::Micros timeout = std::chrono::seconds{30}) {
  pgleak::pool::PoolConfig c;
  c.pool_size = 3;
  c.max_overflow = 5;
  c.timeout = timeout;
  return c;
}

// One checkout and check-in, nobody else on the pool (issue 10 target: <= 50 ns).
void BM_Uncontended(benchmark::State& state) {
  NullFactory factory;
  pgleak::pool::QueuePool pool{pool_3_5(), factory};
  const pgleak::pool::CheckoutRequest request{"bench", "bench.0"};
  for (auto _ : state) {
    auto conn = pool.checkout(request);
    benchmark::DoNotOptimize(conn->backend_pid());
  }
  state.SetItemsProcessed(state.iterations());
}
// Five repetitions, reported as their median: on a shared 2-core machine one
// run in three or four lands on a slow core at 1.5x the time.
BENCHMARK(BM_Uncontended)->Repetitions(5)->ReportAggregatesOnly(true);

// The incident's fixed pool (3+5) shared by 2, 8 and 32 threads: with 32,
// 24 of them wait at any moment (target: 8 threads reach at least half the
// uncontended throughput, in checkouts per second of all threads together).
void BM_Contended(benchmark::State& state) {
  static NullFactory factory;
  static pgleak::pool::QueuePool pool{pool_3_5(), factory};
  const pgleak::pool::CheckoutRequest request{"bench",
                                              "bench." + std::to_string(state.thread_index())};
  for (auto _ : state) {
    auto conn = pool.checkout(request);
    benchmark::DoNotOptimize(conn->backend_pid());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Contended)->Threads(2)->Threads(8)->Threads(32)->UseRealTime();

// A pool of one connection and no overflow, with `timeout`: one checkout
// exhausts it.
pgleak::pool::PoolConfig one_connection(pgleak::util::Micros timeout) {
  auto config = pool_3_5(timeout);
  config.pool_size = 1;
  config.max_overflow = 0;
  return config;
}

// A checkout on an exhausted pool with a zero timeout: what a waiter that
// times out costs, apart from the wait itself.
void BM_TimingOut(benchmark::State& state) {
  NullFactory factory;
  pgleak::pool::QueuePool pool{one_connection(pgleak::util::Micros{0}), factory};
  const pgleak::pool::CheckoutRequest request{"bench", "bench.0"};
  auto held = pool.checkout(request);  // exhausted from here on
  for (auto _ : state) {
    try {
      auto conn = pool.checkout(request);
      benchmark::DoNotOptimize(conn->backend_pid());
    } catch (const pgleak::pool::PoolTimeoutError& e) {
      benchmark::DoNotOptimize(e.what());
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TimingOut);

// How far past pool_timeout a checkout fails, with W waiters timing out
// together on an exhausted pool (issue 10 target: <= 5 ms past at p99), over
// at least 100 timeouts: rounds of W waiters with a 20 ms timeout, each a
// thread (second argument 0) or a fiber on the engine's loops, one per core
// (1), as `--engine` runs workers.
void BM_TimeoutLateness(benchmark::State& state) {
  const int waiters = static_cast<int>(state.range(0));
  const bool on_fibers = state.range(1) != 0;
  NullFactory factory;
  const auto config = one_connection(std::chrono::milliseconds{20});
  pgleak::pool::QueuePool pool{config, factory};
  const pgleak::pool::CheckoutRequest request{"bench", "bench.0"};
  auto held = pool.checkout(request);  // exhausted from here on
  std::vector<double> late_ms;
  std::mutex mutex;
  for (auto _ : state) {
    for (int done = 0; done < 100; done += waiters) {
      const auto wait = [&] {
        try {
          auto conn = pool.checkout(request);
        } catch (const pgleak::pool::PoolTimeoutError& e) {
          const double late = pgleak::util::to_millis(e.waited() - config.timeout);
          std::lock_guard lock{mutex};
          late_ms.push_back(late);
        }
      };
      if (on_fibers) {
        pgleak::fiber::Engine engine;
        for (int w = 0; w < waiters; ++w) {
          engine.spawn(wait);
        }
        engine.join();
        continue;
      }
      std::vector<std::thread> threads;
      for (int w = 0; w < waiters; ++w) {
        threads.emplace_back(wait);
      }
      for (auto& t : threads) {
        t.join();
      }
    }
  }
  std::sort(late_ms.begin(), late_ms.end());
  const auto at = [&](double q) {
    return late_ms.empty() ? 0.0 : late_ms[static_cast<size_t>(q * (late_ms.size() - 1))];
  };
  state.counters["timeouts"] = static_cast<double>(late_ms.size());
  state.counters["late_p50_ms"] = at(0.5);
  state.counters["late_p99_ms"] = at(0.99);
  state.counters["late_max_ms"] = late_ms.empty() ? 0.0 : late_ms.back();
}
BENCHMARK(BM_TimeoutLateness)
    ->Args({8, 0})
    ->Args({500, 0})
    ->Args({8, 1})
    ->Args({500, 1})
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
