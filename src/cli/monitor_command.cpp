// pgleak monitor: a live server's connections against its limit, once or on a watch.
#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <optional>

#include "cli/commands.hpp"
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

}  // namespace pgleak::cli
