// pgleak relay: the relay the network faults use (net/relay.hpp), on its own,
// in front of any server: for trying an application against a slow or thin
// network by hand, and for measuring the relay itself (bench/relay.sh).
#include <fmt/format.h>

#include <condition_variable>
#include <iostream>
#include <mutex>

#include "cli/commands.hpp"
#include "cli/exit_code.hpp"
#include "net/relay.hpp"
#include "util/duration.hpp"
#include "util/errors.hpp"
#include "util/rate.hpp"

namespace pgleak::cli {
namespace {

struct RelayArgs {
  std::string to;
  int port = 0;
  std::string delay = "0ms";
  std::string jitter = "0ms";
  std::string bandwidth;
  std::string direction = "both";
};

util::Micros duration_arg(const std::string& option, const std::string& text) {
  std::string why;
  const auto d = util::parse_duration(text, &why);
  if (!d || d->count() < 0 || *d > std::chrono::minutes{10}) {
    throw util::UsageError(fmt::format("{}: {}", option, d ? "at most 10m" : why));
  }
  return *d;
}

// HOST:PORT, [V6]:PORT or /socket/dir:PORT.
std::pair<std::string, int> target_arg(const std::string& to) {
  const auto colon = to.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0) {
    throw util::UsageError("--to: must be HOST:PORT (or /socket/dir:PORT)");
  }
  try {
    size_t used = 0;
    port = std::stoi(to.substr(colon + 1), &used);
    if (used != to.size() - colon - 1 || port < 1 || port > 65535) {
      throw std::out_of_range("port");
    }
  } catch (const std::exception&) {
    throw util::UsageError("--to: the port must be a number from 1 to 65535");
  }
  auto host = to.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return {host, port};
}

int do_relay(const RelayArgs& args, const CommandIo& io) {
  net::Shaping shaping;
  shaping.delay = duration_arg("--delay", args.delay);
  shaping.jitter = duration_arg("--jitter", args.jitter);
  if (!args.bandwidth.empty()) {
    std::string why;
    const auto rate = util::parse_rate(args.bandwidth, &why);
    if (!rate) {
      throw util::UsageError("--bandwidth: " + why);
    }
    shaping.bytes_per_s = *rate;
  }
  const auto [host, port] = target_arg(args.to);
  auto relay = net::Relay::start(host, port, args.port);
  if (args.direction != "to_client") {
    relay->shape(net::Direction::kToServer, shaping);
  }
  if (args.direction != "to_server") {
    relay->shape(net::Direction::kToClient, shaping);
  }
  io.err << fmt::format(
                "pgleak: relaying 127.0.0.1:{} to {}:{} (delay {}, jitter {}, {}; {}); "
                "Ctrl-C stops\n",
                relay->port(), host, port, util::format_duration(shaping.delay),
                util::format_duration(shaping.jitter),
                shaping.bytes_per_s > 0 ? util::format_rate(shaping.bytes_per_s)
                                        : std::string{"no bandwidth cap"},
                args.direction)
         << std::flush;
  std::mutex mutex;
  std::condition_variable_any cv;
  std::unique_lock lock{mutex};
  cv.wait(lock, io.signals.token(), [] { return false; });
  relay->stop();  // so that what it counts is all it carried
  const auto s = relay->stats();
  io.err << fmt::format(
      "pgleak: relayed {} connections ({} aborted), {} bytes to the server, {} "
      "to the clients{}\n",
      s.connections, s.aborted, s.bytes_to_server, s.bytes_to_client,
      s.accept_failures > 0 ? fmt::format("; {} accepts failed for want of file descriptors "
                                          "(raise ulimit -n)",
                                          s.accept_failures)
                            : std::string{});
  return kPassed;
}

}  // namespace

Command add_relay(CLI::App& app, const CommandIo& io) {
  auto args = std::make_shared<RelayArgs>();
  auto* cmd = app.add_subcommand(
      "relay",
      "Relay 127.0.0.1:PORT to a server through pgleak's own relay (one thread, epoll), with\n"
      "the latency, jitter and bandwidth cap a scenario's network faults use; until Ctrl-C.\n"
      "Point an application (or pgbench) at the port it prints. Example:\n"
      "  pgleak relay --to db.internal:5432 --delay 40ms --jitter 10ms --bandwidth 1MB/s");
  cmd->add_option("--to", args->to, "The server: HOST:PORT, or /socket/dir:PORT")->required();
  cmd->add_option("--port", args->port, "Port to listen on, on 127.0.0.1 (default: a free one)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--delay", args->delay, "Added one-way latency, e.g. 40ms (default 0ms)");
  cmd->add_option("--jitter", args->jitter,
                  "Each chunk's delay varies uniformly by up to this much (default 0ms)");
  cmd->add_option("--bandwidth", args->bandwidth,
                  "Cap per direction of each connection, e.g. 64KB/s or 1MiB/s (default: none)");
  cmd->add_option("--direction", args->direction, "Which way to shape (default both)")
      ->check(CLI::IsMember({"both", "to_server", "to_client"}));
  return {cmd, [args, &io]() -> int { return do_relay(*args, io); }};
}

}  // namespace pgleak::cli
