// pgleak's own cost per checkout/check-in, against an in-memory connection:
// this is what pgleak adds on top of every round trip it measures.
#include <benchmark/benchmark.h>

#include "db/connection.hpp"
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

void BM_CheckoutCheckin(benchmark::State& state) {
  static NullFactory factory;
  static pgleak::pool::QueuePool pool{pgleak::pool::PoolConfig{}, factory};
  const pgleak::pool::CheckoutRequest request{"bench", "bench"};
  for (auto _ : state) {
    auto conn = pool.checkout(request);
    benchmark::DoNotOptimize(conn->backend_pid());
  }
}
BENCHMARK(BM_CheckoutCheckin)->Threads(1)->Threads(2)->Threads(8);

}  // namespace

BENCHMARK_MAIN();
