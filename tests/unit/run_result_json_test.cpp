// The run's result, written as the report writes it and read back as
// `pgleak merge` reads it: one definition per type, so every field survives.
#include "record/run_result_json.hpp"

#include <gtest/gtest.h>

namespace pgleak::record {
namespace {

using nlohmann::json;

// Through text, as a report on disk is.
json on_disk(const json& j) {
  return json::parse(j.dump());
}

TEST(RunResultJson, APoolOutcomeSurvivesWithEveryCounter) {
  PoolOutcome p{"api", 3, {}, 2};
  // Every field a distinct value, so a field read into its neighbour shows.
  p.stats.checked_out = 1;
  p.stats.idle = 2;
  p.stats.overflow = 3;
  p.stats.open = 4;
  p.stats.retired_out = 5;
  p.stats.retired_idle = 6;
  uint64_t n = 10;
  for (auto* total :
       {&p.stats.checkouts, &p.stats.checkins, &p.stats.timeouts, &p.stats.connects,
        &p.stats.connect_failures, &p.stats.closes, &p.stats.overflow_closed, &p.stats.recycled,
        &p.stats.invalidated, &p.stats.pre_pings, &p.stats.pre_ping_failures,
        &p.stats.reset_failures, &p.stats.disposals, &p.stats.checkins_by_cleanup}) {
    *total = n++;
  }
  const auto back = pool_outcome_from_json(on_disk(pool_outcome_json(p)));
  EXPECT_EQ(back.process, "api");
  EXPECT_EQ(back.replica, 3);
  EXPECT_EQ(back.outstanding, 2);
  EXPECT_EQ(pool_stats_json(back.stats), pool_stats_json(p.stats));
  EXPECT_EQ(back.stats.checkins_by_cleanup, 23u);
  EXPECT_EQ(back.stats.disposals, 22u);
  // waiting and overflow_raw are a moment's state, not the run's outcome.
  EXPECT_FALSE(pool_outcome_json(p).at("stats").contains("waiting"));
}

TEST(RunResultJson, AnOpenModelLoadKeepsItsStartDelaysExactly) {
  LoadOutcome l{"api", 1, "readers", true, 40, 7, std::make_shared<util::LatencyHistogram>()};
  for (int us : {120, 950, 15000, 15000, 2000000}) {
    l.start_delays->record(util::Micros{us});
  }
  const auto entry = on_disk(load_outcome_json(l));
  EXPECT_EQ(entry.at("start_delay_ms").at("count"), 5);
  const auto back = load_outcome_from_json(entry, on_disk(histogram_json(*l.start_delays)));
  EXPECT_EQ(back.group, "readers");
  EXPECT_TRUE(back.open_model);
  EXPECT_EQ(back.arrivals, 40u);
  EXPECT_EQ(back.dropped, 7u);
  EXPECT_EQ(back.start_delays->count(), 5u);
  EXPECT_EQ(back.start_delays->max(), l.start_delays->max());
  EXPECT_EQ(back.start_delays->quantile(0.5), l.start_delays->quantile(0.5));

  const LoadOutcome closed{"api", 0, "w", false, 0, 0, std::make_shared<util::LatencyHistogram>()};
  const auto entry_closed = load_outcome_json(closed);
  EXPECT_FALSE(entry_closed.contains("arrivals"));
  EXPECT_EQ(load_outcome_from_json(entry_closed, nullptr).start_delays->count(), 0u);
}

TEST(RunResultJson, AHolderAndATargetSurvive) {
  const Holder h{"worker", 2, "worker.0.1", "held_by_object", 4242, 1.5, 30.25, 60.5};
  const auto hb = holder_from_json(on_disk(holder_json(h)));
  EXPECT_EQ(holder_json(hb), holder_json(h));

  TargetDescription t;
  t.embedded = false;
  t.dsn_redacted = "host=db user=app password=***";
  t.server = {"15.5", 100, 3, false, 20, -1, 17};
  t.app_role_superuser = false;
  t.connections_before = 12;
  t.pgbouncer = true;
  t.pgbouncer_console = "host=db port=6432 dbname=pgbouncer";
  const auto tb = target_from_json(on_disk(target_json(t)), on_disk(target_info_json(t)));
  EXPECT_EQ(target_json(tb), target_json(t));
  EXPECT_EQ(target_info_json(tb), target_info_json(t));
  EXPECT_EQ(tb.server.role_connection_limit, 20);
  EXPECT_EQ(tb.connections_before, 12);
  EXPECT_FALSE(tb.pgbouncer_embedded);
}

TEST(RunResultJson, AStatusIsOneOfTheWordsPgleakWrites) {
  for (const auto st : {RunStatus::kCompleted, RunStatus::kInterrupted, RunStatus::kTargetLost,
                        RunStatus::kAborted}) {
    EXPECT_EQ(run_status_from_string(to_string(st)), st);
  }
  EXPECT_FALSE(run_status_from_string("killed").has_value());
  EXPECT_FALSE(run_status_from_string("").has_value());
}

TEST(RunResultJson, AFieldOfTheWrongShapeThrowsRatherThanWraps) {
  auto entry = pool_outcome_json(PoolOutcome{"p", 0, {}, 0});
  entry["replica"] = 4294967298.0;  // 2^32 + 2
  EXPECT_THROW(pool_outcome_from_json(entry), json::exception);
  // Refused before any conversion (fuzz/run.sh capture found checked_int
  // converting 1.9e58 to int64: undefined behaviour).
  entry["replica"] = 1.88889e58;
  EXPECT_THROW(pool_outcome_from_json(entry), json::out_of_range);
  entry["replica"] = "3";
  EXPECT_THROW(pool_outcome_from_json(entry), json::type_error);
  entry = pool_outcome_json(PoolOutcome{"p", 0, {}, 0});
  entry["stats"].erase("closes");
  EXPECT_THROW(pool_outcome_from_json(entry), json::exception);
}

}  // namespace
}  // namespace pgleak::record
