// pgleak monitor: a live server's connections against its limit, once or on a watch.
#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <optional>

#include "cli/commands.hpp"
#include "cli/dsn.hpp"
#include "cli/exit_code.hpp"
#include "db/conninfo.hpp"
#include "probe/capture_recorder.hpp"
#include "probe/monitor.hpp"
#include "util/duration.hpp"
#include "util/errors.hpp"
#include "util/files.hpp"
#include "util/stoppable_sleep.hpp"
#include "util/text.hpp"

namespace pgleak::cli {

namespace {

util::Micros positive_duration(const std::string& flag, const std::string& text) {
  std::string why;
  const auto d = util::parse_duration(text, &why);
  if (!d || d->count() <= 0) {
    throw util::UsageError(flag + " " + text + ": " +
                           (why.empty() ? "must be more than zero" : why));
  }
  return *d;
}

// monitor --record: samples into a capture until --for has passed (exit 0)
// or a signal comes (128 + N, as for every command); the capture is closed
// whole either way.
int record(const MonitorArgs& args, const db::ConnInfo& target, std::ostream& out,
           std::ostream& err, const SignalWatcher& signals) {
  probe::RecordOptions options;
  options.path = args.record;
  options.interval = positive_duration("--interval", args.interval);
  if (options.interval < std::chrono::milliseconds{100}) {
    throw util::UsageError("--interval " + args.interval + ": at least 100ms");
  }
  if (!args.for_duration.empty()) {
    options.duration = positive_duration("--for", args.for_duration);
  }
  options.with_query_text = args.with_query_text;
  options.log = &err;
  if (!args.server_log.empty()) {
    try {
      util::check_readable_file(args.server_log);
    } catch (const util::UsageError& e) {
      throw util::UsageError("--server-log " + args.server_log + ": " + e.what());
    }
    options.server_log = args.server_log;
  }
  util::check_outputs({{"--record", args.record}}, {args.server_log});
  const auto outcome = probe::record_capture(target, options, signals.token());
  out << fmt::format(
      "recorded {} snapshots into {} ({} bytes compressed){}{}\n", outcome.snapshots,
      util::printable(args.record), outcome.file.compressed_bytes,
      outcome.reason == "duration" ? "" : "; stopped by a signal",
      outcome.failed_samples > 0
          ? fmt::format("; {} samples failed and were skipped", outcome.failed_samples)
          : "");
  if (!outcome.file.error.empty()) {
    err << "pgleak: " << util::printable(outcome.file.error) << "\n";
    return kInfrastructure;
  }
  return kPassed;
}

}  // namespace

int do_monitor(const MonitorArgs& args, std::ostream& out, std::ostream& err,
               const SignalWatcher& signals) {
  const auto target = db::ConnInfo::parse(args.dsn);
  if (!args.record.empty()) {
    return record(args, target, out, err, signals);
  }
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
  return rc;  // a signal's 128 + N is run_cli's
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
  auto* watch_opt =
      monitor->add_option("--watch", st->monitor_args.watch,
                          "Refresh every DURATION (e.g. 2s) until Ctrl-C; one shot without it");
  monitor->add_option("--count", st->monitor_args.count, "With --watch: stop after N refreshes")
      ->check(CLI::Range(0, 1000000));
  monitor
      ->add_option("--warn-at", st->monitor_args.warn_at,
                   "Percent of max_connections - superuser_reserved that makes exit 1")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1000.0));
  auto* json_flag = monitor->add_flag("--json", st->monitor_args.json,
                                      "One JSON document per refresh (pgleak.monitor/1)");
  auto* record_opt =
      monitor
          ->add_option("--record", st->monitor_args.record,
                       "Record every client backend (application, user, client, state, times,\n"
                       "wait event, query fingerprint) and the server's limits into a capture\n"
                       "(gzip JSON Lines, pgleak.capture/1) for pgleak diagnose, until --for has\n"
                       "passed (exit 0) or Ctrl-C/SIGTERM (exit 130/143; the capture is closed\n"
                       "whole, and a kill keeps what was written). Read-only; no query text\n"
                       "unless --with-query-text")
          ->type_name("FILE")
          ->excludes(json_flag)
          ->excludes(watch_opt);
  monitor
      ->add_option("--interval", st->monitor_args.interval,
                   "With --record: how often to sample (at least 100ms)")
      ->capture_default_str()
      ->needs(record_opt);
  monitor
      ->add_option("--for", st->monitor_args.for_duration,
                   "With --record: stop after DURATION (e.g. 10m)")
      ->needs(record_opt);
  monitor
      ->add_flag("--with-query-text", st->monitor_args.with_query_text,
                 "With --record: keep each query's normalised text (literals replaced by ?),\n"
                 "not only its fingerprint")
      ->needs(record_opt);
  monitor
      ->add_option("--server-log", st->monitor_args.server_log,
                   "With --record: the server's jsonlog (log_destination = 'jsonlog'); its\n"
                   "errors while the capture runs (refusals 53300, 25P03, 57014, 57P01, ...)\n"
                   "are kept beside the samples, for diagnose to tie to applications")
      ->type_name("PATH")
      ->needs(record_opt);
  return {monitor, [=, &io]() -> int {
            auto& monitor_args = st->monitor_args;
            auto& monitor_dsn = st->monitor_dsn;
            auto& out = io.out;
            const auto& signals = io.signals;
            monitor_args.dsn = take_dsn(*monitor, monitor_dsn, io);
            if (monitor_args.dsn.empty()) {
              throw util::UsageError("monitor needs a server: --dsn, --dsn-file or $PGLEAK_DSN");
            }
            return do_monitor(monitor_args, out, io.err, signals);
          }};
}

}  // namespace pgleak::cli
