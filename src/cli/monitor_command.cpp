// pgleak monitor: a live server's connections against its limit, once or on a watch.
#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <optional>

#include "cli/commands.hpp"
#include "cli/dsn.hpp"
#include "cli/exit_code.hpp"
#include "db/conninfo.hpp"
#include "probe/monitor.hpp"
#include "util/duration.hpp"
#include "util/errors.hpp"
#include "util/stoppable_sleep.hpp"

namespace pgleak::cli {

int do_monitor(const MonitorArgs& args, std::ostream& out, const SignalWatcher& signals) {
  const auto target = db::ConnInfo::parse(args.dsn);
  std::optional<util::Micros> every;
  if (!args.watch.empty()) {
    std::string why;
    every = util::parse_duration(args.watch, &why);
    if (!every || every->count() <= 0) {
      throw util::UsageError("--watch: " + (why.empty() ? "must be more than zero" : why));
    }
  }
  const bool redraw = every && !args.json && &out == &std::cout && ::isatty(STDOUT_FILENO) != 0;
  int rc = kPassed;
  for (int shown = 0; !signals.token().stop_requested(); ++shown) {
    const auto snapshot = probe::take_snapshot(target, signals.token());
    rc = snapshot.used_percent() >= args.warn_at ? kFailed : kPassed;
    if (redraw) {
      out << "\033[H\033[2J";
    }
    // Other sessions' text is the server's, not ours: JSON escapes it, the
    // table shows it through util::printable (probe/monitor.cpp).
    out << (args.json ? probe::snapshot_json(snapshot, args.warn_at)
                                .dump(-1, ' ', /*ensure_ascii=*/true,
                                      nlohmann::json::error_handler_t::replace) +
                            "\n"
                      : probe::format_snapshot(snapshot, args.warn_at))
        << std::flush;
    if (!every || (args.count > 0 && shown + 1 >= args.count)) {
      break;
    }
    util::sleep_for(*every, signals.token());
  }
  return signals.signal() != 0 ? 128 + signals.signal() : rc;
}

Command add_monitor(CLI::App& app, const CommandIo& io) {
  struct State {
    MonitorArgs monitor_args;
    DsnFlags monitor_dsn;
  };
  auto st = std::make_shared<State>();
  auto* monitor = app.add_subcommand(
      "monitor",
      "Connections of an existing server: total against max_connections (and the reserved\n"
      "slots), by application and state, the longest idle-in-transaction sessions and the\n"
      "oldest transactions. Exit 1 at or past --warn-at percent of the limit, for cron and CI.\n"
      "  pgleak monitor --dsn postgresql://monitor@db/app --watch 2s");
  add_dsn_options(monitor, st->monitor_dsn, "Server to watch");
  monitor->add_option("--watch", st->monitor_args.watch,
                      "Refresh every DURATION (e.g. 2s) until Ctrl-C; one shot without it");
  monitor->add_option("--count", st->monitor_args.count, "With --watch: stop after N refreshes")
      ->check(CLI::Range(0, 1000000));
  monitor
      ->add_option("--warn-at", st->monitor_args.warn_at,
                   "Percent of max_connections - superuser_reserved that makes exit 1")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1000.0));
  monitor->add_flag("--json", st->monitor_args.json,
                    "One JSON document per refresh (pgleak.monitor/1)");
  return {monitor, [=, &io]() -> int {
            auto& monitor_args = st->monitor_args;
            auto& monitor_dsn = st->monitor_dsn;
            auto& out = io.out;
            const auto& signals = io.signals;
            const int argc = io.argc;
            char** argv = io.argv;
            monitor_dsn.dsn_given = monitor->count("--dsn") > 0;
            monitor_args.dsn = resolve_dsn(monitor_dsn);
            scrub_dsn_from_argv(argc, argv, monitor_args.dsn);
            if (monitor_args.dsn.empty()) {
              throw util::UsageError("monitor needs a server: --dsn, --dsn-file or $PGLEAK_DSN");
            }
            return do_monitor(monitor_args, out, signals);
          }};
}

}  // namespace pgleak::cli
