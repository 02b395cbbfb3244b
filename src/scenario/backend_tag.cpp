#include "scenario/backend_tag.hpp"

#include <charconv>
#include <vector>

namespace pgleak::scenario {

std::string BackendTag::str() const {
  return prefix + "/" + run_id + (shard >= 0 ? "@" + std::to_string(shard) : std::string{}) + "/" +
         process + "." + std::to_string(replica) + "/" + pattern;
}

std::string BackendTag::fleet_marker(const std::string& run_id) {
  return "/" + run_id + "@";
}

std::string BackendTag::shard_marker(const std::string& run_id, int shard) {
  return fleet_marker(run_id) + std::to_string(shard) + "/";
}

std::string BackendTag::run_marker(const std::string& run_id) {
  return "/" + run_id + "/";
}

std::string BackendTag::process_marker(const std::string& run_id, const std::string& process) {
  return run_marker(run_id) + process + ".";
}

std::optional<BackendTag> BackendTag::parse(std::string_view name) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '/') {
      parts.push_back(name.substr(start, i - start));
      start = i + 1;
    }
  }
  if (parts.size() != 4 || parts[1].size() < kRunIdLength) {
    return std::nullopt;
  }
  int shard = -1;
  if (parts[1].size() > kRunIdLength) {
    const auto digits = parts[1].substr(kRunIdLength + 1);
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), shard);
    if (parts[1][kRunIdLength] != '@' || digits.empty() || ec != std::errc{} ||
        end != digits.data() + digits.size() || shard < 0) {
      return std::nullopt;
    }
  }
  const auto dot = parts[2].rfind('.');
  if (dot == std::string_view::npos) {
    return std::nullopt;
  }
  BackendTag tag;
  const auto replica = parts[2].substr(dot + 1);
  const auto [end, ec] =
      std::from_chars(replica.data(), replica.data() + replica.size(), tag.replica);
  if (ec != std::errc{} || end != replica.data() + replica.size()) {
    return std::nullopt;
  }
  tag.prefix = parts[0];
  tag.run_id = parts[1].substr(0, kRunIdLength);
  tag.shard = shard;
  tag.process = parts[2].substr(0, dot);
  tag.pattern = parts[3];
  return tag;
}

}  // namespace pgleak::scenario
