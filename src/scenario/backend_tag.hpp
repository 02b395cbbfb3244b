#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pgleak::scenario {

// The application_name of every backend pgleak opens:
//   "<prefix>/<run_id>/<process>.<replica>/<pattern>"
// e.g. "dispatching_api/k3x9q2/route_builder_launcher.24/outside_loop";
// a shard of a sharded run adds its index to the run id: "k3x9q2@3".
// The prefix is the pool's application_name ("pgleak" when unset), so the
// server shows what production would, and the rest attributes the backend.
struct BackendTag {
  std::string prefix;
  std::string run_id;
  std::string process;
  int replica = 0;
  std::string pattern;
  int shard = -1;  // -1: not a sharded run

  std::string str() const;
  static std::optional<BackendTag> parse(std::string_view application_name);

  // What every tag of one run contains ("/<run_id>/"), and of one process of
  // it ("/<run_id>/<process>."): how pgleak finds its own backends, and only those.
  static std::string run_marker(const std::string& run_id);
  static std::string process_marker(const std::string& run_id, const std::string& process);
  // Every shard's backends ("/<run_id>@"), and one shard's ("/<run_id>@<shard>/").
  static std::string fleet_marker(const std::string& run_id);
  static std::string shard_marker(const std::string& run_id, int shard);
};

// PostgreSQL truncates application_name to NAMEDATALEN - 1 bytes.
inline constexpr size_t kMaxApplicationName = 63;
inline constexpr size_t kRunIdLength = 6;

}  // namespace pgleak::scenario
