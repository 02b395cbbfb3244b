// pgleak tune: the smallest pool settings that pass a scenario, found by
// real compressed runs (tune/tune.hpp).
#include <fmt/format.h>

#include <ostream>

#include "cli/commands.hpp"
#include "cli/dsn.hpp"
#include "cli/exit_code.hpp"
#include "cli/run_command.hpp"
#include "scenario/loader.hpp"
#include "scenario/pool_kinds.hpp"
#include "tune/tune.hpp"
#include "util/errors.hpp"
#include "util/files.hpp"
#include "util/text.hpp"
#include "workload/pattern_registry.hpp"

namespace pgleak::cli {
namespace {

using nlohmann::json;

// "3+5", or with processes of their own "3+5, api 2+0".
std::string settings(const tune::Candidate& c) {
  std::string text = fmt::format("{}+{}", c.pool_size, c.max_overflow);
  if (c.pool_timeout_s) {
    text += fmt::format(" timeout {}s", *c.pool_timeout_s);
  }
  for (const auto& [name, own] : c.processes) {
    text += fmt::format(", {} {}+{}", util::printable(name), own.pool_size, own.max_overflow);
  }
  return text;
}

std::string row(const tune::Candidate& c) {
  return fmt::format(
      "  {:>9} {:>12} {:>5} {:>14.1f} {:>13} {:>9}  {}{}\n", settings(c), c.peak_connections,
      c.peak_total, c.checkout_wait_p95_ms, c.pool_timeouts, c.headroom,
      c.pass ? (c.too_small ? "pass, waits near the border" : "pass") : "FAIL",
      c.failed.empty() ? "" : ": " + util::printable(fmt::format("{}", fmt::join(c.failed, "; "))));
}

json candidate_json(const tune::Candidate& c) {
  json processes = json::object();
  for (const auto& [name, own] : c.processes) {
    processes[name] = {{"pool_size", own.pool_size}, {"max_overflow", own.max_overflow}};
  }
  return {{"pool_size", c.pool_size},
          {"max_overflow", c.max_overflow},
          {"processes", processes},
          {"pool_timeout_s", c.pool_timeout_s ? json(*c.pool_timeout_s) : json(nullptr)},
          {"checkout_wait_max_nominal_s", c.checkout_wait_max_nominal_s},
          {"pass", c.pass},
          {"status", c.status},
          {"peak_connections", c.peak_connections},
          {"peak_total_connections", c.peak_total},
          {"checkout_wait_p95_ms", c.checkout_wait_p95_ms},
          {"pool_timeouts", c.pool_timeouts},
          {"headroom", c.headroom},
          {"failed", c.failed},
          {"confirmed", c.confirmed}};
}

// The scenario as written, with the recommended pools wherever it sets one.
std::string tuned_scenario(const scenario::Scenario& sc, const tune::Candidate& best) {
  auto doc = json::parse(sc.source_text, nullptr, true, /*ignore_comments=*/true);
  const auto set = [&best](json& pool) {
    pool["pool_size"] = best.pool_size;
    pool["max_overflow"] = best.max_overflow;
    if (best.pool_timeout_s) {
      pool["pool_timeout"] = fmt::format("{}s", *best.pool_timeout_s);
    }
  };
  set(doc["pool"]);
  for (auto& p : doc.at("processes")) {
    const auto own = best.processes.find(p.value("name", ""));
    if (own != best.processes.end()) {
      set(p["pool"]);
      p["pool"]["pool_size"] = own->second.pool_size;
      p["pool"]["max_overflow"] = own->second.max_overflow;
    } else if (p.contains("pool")) {
      set(p["pool"]);
    }
  }
  return doc.dump(2) + "\n";
}

}  // namespace

int do_tune(const TuneArgs& args, std::ostream& out, std::ostream& err,
            const SignalWatcher& signals) {
  scenario::LoadOptions load_options;
  if (args.time_scale != 0) {
    load_options.time_scale = args.time_scale;
  }
  const auto sc =
      scenario::load(args.scenario, workload::PatternRegistry::builtin().catalog(), load_options);
  scenario::require_sqlalchemy_pools(sc, "tune");
  util::check_outputs({{"--write", args.write}}, {args.scenario});
  tune::TuneOptions options;
  options.max_capacity = args.max_capacity;
  options.per_process = args.per_process;
  if (!args.dsn.empty()) {
    db::ConnInfo::parse(args.dsn);
    options.run.dsn = args.dsn;
    options.run.preflight = [&sc, &args](const record::ServerInfo& info) {
      if (!args.allow_exhaust) {
        refuse_if_exhausting(tune::with_pools(sc, args.max_capacity, 0), info);
      }
    };
  }
  options.run.interrupt = signals.token();
  options.run.force = signals.force_token();
  if (!args.json) {
    out << fmt::format("tuning {} (time_scale {}): every process's pool, up to {} connections\n",
                       sc.name, sc.time_scale, args.max_capacity)
        << "  pool+over  peak (ours)  (all)  p95 wait (ms)  pool timeouts  headroom\n";
    options.on_candidate = [&out](const tune::Candidate& c) { out << row(c) << std::flush; };
  }
  const auto result = tune::tune(sc, options);
  if (args.json) {
    json tried = json::array();
    for (const auto& c : result.tried) {
      tried.push_back(candidate_json(c));
    }
    out << json{{"schema", "pgleak.tune/1"},
                {"scenario", sc.name},
                {"runs", result.tried.size()},
                {"tried", tried},
                {"best", result.best ? candidate_json(*result.best) : json(nullptr)},
                {"why_none", result.why_none.empty() ? json(nullptr) : json(result.why_none)}}
               .dump(2)
        << "\n";
  } else if (result.best) {
    out << fmt::format(
        "{} runs; recommended (passed twice): {} (pool_size+max_overflow; peak {}, {} "
        "slots left on the server)\n",
        result.tried.size(), settings(*result.best), result.best->peak_connections,
        result.best->headroom);
  } else if (!result.why_none.empty()) {
    out << fmt::format("{} runs; no setting passes: {}\n", result.tried.size(),
                       util::printable(result.why_none));
  }
  if (result.best && !args.write.empty()) {
    util::write_output_file(args.write, tuned_scenario(sc, *result.best));
    if (!args.json) {
      out << "wrote " << util::printable(args.write) << "\n";
    }
  }
  if (signals.signal() != 0) {
    err << "pgleak: interrupted; the table holds the runs that finished\n";
  }
  return result.best ? kPassed : kFailed;
}

Command add_tune(CLI::App& app, const CommandIo& io) {
  struct State {
    TuneArgs args;
    DsnFlags dsn;
  };
  auto st = std::make_shared<State>();
  auto* cmd = app.add_subcommand(
      "tune",
      "Find the smallest pool settings that pass a scenario's thresholds under its load:\n"
      "every process's pool_size + max_overflow bisected by real compressed runs (each\n"
      "stopped once a threshold can no longer pass), then how much of it pool_size keeps.\n"
      "Prints each run (settings, peak connections, p95 checkout wait, pool timeouts, the\n"
      "server's slots left) and the recommendation; exit 1 when no setting passes, saying\n"
      "why. Example:\n"
      "  pgleak tune scenarios/incident-after.json --write tuned.json");
  cmd->add_option("scenario", st->args.scenario, "Scenario file (JSON)")->required();
  cmd->add_option("--max-capacity", st->args.max_capacity,
                  "The widest pool_size + max_overflow tried (the search's upper bound)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--time-scale", st->args.time_scale,
                  "Override the scenario's time_scale for every run")
      ->check(CLI::Range(0.000001, 1000.0));
  cmd->add_option("--write", st->args.write, "Write the scenario with the recommended pools here")
      ->type_name("OUT.json");
  cmd->add_flag("--json", st->args.json, "The runs and the recommendation as JSON");
  cmd->add_flag("--per-process", st->args.per_process,
                "Then each process's own smallest pool, the others at the shared setting\n"
                "(a few more runs per process), confirmed together by one more run");
  add_dsn_options(cmd, st->dsn,
                  "Tune against an existing server (read, never reconfigured; the same\n"
                  "preflight and clean-up as pgleak run)");
  cmd->add_flag("--allow-exhaust", st->args.allow_exhaust,
                "With a DSN: run even when the widest setting would take every free slot");
  return {cmd, [st, cmd, &io]() -> int {
            st->args.dsn = take_dsn(*cmd, st->dsn, io);
            return do_tune(st->args, io.out, io.err, io.signals);
          }};
}

}  // namespace pgleak::cli
