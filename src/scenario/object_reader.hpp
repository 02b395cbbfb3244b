#pragma once

#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "scenario/json_pointer.hpp"
#include "scenario/loader.hpp"
#include "scenario/steps.hpp"
#include "util/duration.hpp"

// Internal to scenario/: the loader's field reader.
namespace pgleak::scenario::detail {

using nlohmann::json;

// Reads the fields of one JSON object, recording a Problem for anything
// missing, mistyped or out of range, and for every key nobody asked for.
class ObjectReader {
 public:
  ObjectReader(const json& value, std::string pointer, std::vector<Problem>& problems,
               double time_scale)
      : value_(value), pointer_(std::move(pointer)), problems_(problems), time_scale_(time_scale) {
    if (!value_.is_object()) {
      problem("", "must be an object");
    }
  }

  ObjectReader(const ObjectReader&) = delete;
  ObjectReader& operator=(const ObjectReader&) = delete;
  ~ObjectReader() { finish(); }

  // Reports the keys nobody asked for. Runs once; the destructor calls it for
  // readers that go out of scope before the problems are gathered.
  void finish() {
    if (finished_ || !value_.is_object()) {
      return;
    }
    finished_ = true;
    for (const auto& [key, unused] : value_.items()) {
      if (!seen_.contains(key)) {
        problem(key, "unknown key");
      }
    }
  }

  std::string at(const std::string& key) const { return pointer_ + "/" + pointer_token(key); }
  double time_scale() const { return time_scale_; }
  void problem(const std::string& key, std::string message) {
    problems_.push_back({key.empty() ? pointer_ : at(key), std::move(message)});
  }

  const json* find(const std::string& key) {
    seen_.insert(key);
    if (!value_.is_object()) {
      return nullptr;
    }
    const auto it = value_.find(key);
    return it == value_.end() ? nullptr : &*it;
  }

  bool has(const std::string& key) const { return value_.is_object() && value_.contains(key); }

  std::optional<std::string> string(const std::string& key, bool required = false) {
    const json* v = find(key);
    if (v == nullptr) {
      if (required) {
        problem(key, "is required");
      }
      return std::nullopt;
    }
    if (!v->is_string()) {
      problem(key, "must be a string");
      return std::nullopt;
    }
    return v->get<std::string>();
  }

  std::optional<int> integer(const std::string& key, int min, int max) {
    const json* v = find(key);
    if (v == nullptr) {
      return std::nullopt;
    }
    if (!v->is_number_integer()) {
      problem(key, "must be an integer");
      return std::nullopt;
    }
    // Past INT64_MAX nlohmann keeps an unsigned value that would wrap.
    if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(max)) {
      problem(key, fmt::format("must be <= {}", max));
      return std::nullopt;
    }
    const auto n = v->get<int64_t>();
    if (n < min) {
      problem(key, fmt::format("must be >= {}", min));
      return std::nullopt;
    }
    if (n > max) {
      problem(key, fmt::format("must be <= {}", max));
      return std::nullopt;
    }
    return static_cast<int>(n);
  }

  std::optional<bool> boolean(const std::string& key) {
    const json* v = find(key);
    if (v == nullptr) {
      return std::nullopt;
    }
    if (!v->is_boolean()) {
      problem(key, "must be true or false");
      return std::nullopt;
    }
    return v->get<bool>();
  }

  std::optional<double> number(const std::string& key) {
    const json* v = find(key);
    if (v == nullptr) {
      return std::nullopt;
    }
    if (!v->is_number() || !std::isfinite(v->get<double>())) {
      problem(key, "must be a finite number");
      return std::nullopt;
    }
    return v->get<double>();
  }

  std::optional<util::Micros> raw_duration(const std::string& key) {
    const json* v = find(key);
    if (v == nullptr) {
      return std::nullopt;
    }
    if (!v->is_string()) {
      problem(key, "must be a duration string with a unit, e.g. \"30s\" or \"250ms\"");
      return std::nullopt;
    }
    std::string why;
    auto d = util::parse_duration(v->get<std::string>(), &why);
    if (!d) {
      problem(key, why);
    }
    return d;
  }

  std::optional<ScaledDuration> duration(const std::string& key, bool positive = false) {
    auto d = raw_duration(key);
    if (!d) {
      return std::nullopt;
    }
    if (positive && d->count() == 0) {
      problem(key, "must be greater than zero");
      return std::nullopt;
    }
    if (auto why = util::check_scaling(*d, time_scale_)) {
      problem(key, *why);
      return std::nullopt;
    }
    return ScaledDuration::scale(*d, time_scale_);
  }

  // A reader for a nested object, sharing the problem list.
  ObjectReader child(const json& v, const std::string& pointer) {
    return ObjectReader{v, pointer, problems_, time_scale_};
  }
  std::vector<Problem>& problems() { return problems_; }
  const json& value() const { return value_; }

 private:
  const json& value_;
  std::string pointer_;
  std::vector<Problem>& problems_;
  double time_scale_;
  std::set<std::string> seen_;
  bool finished_ = false;
};

// Names go into backend tags and file names: letters first, then letters,
// digits, '_' and '-', at most 32 of them (loader.cpp).
void check_identifier(ObjectReader& r, const std::string& key, const std::string& value);

// A worker group's "steps" (steps.cpp): every problem with its pointer.
std::vector<Step> read_steps(ObjectReader& group, const json& steps);

// The readers of scenario/process_reader.cpp: a "pool" object (over the
// settings it starts from), and one of "processes" (its pool starting from
// the scenario's `defaults`). Problems go to the reader's list.
void read_pool(ObjectReader& r, PoolSettings& pool);

// The readers of scenario/network_reader.cpp: the "network" section, the
// server's TCP settings (in "server") and libpq's (in "connect").
void read_network(ObjectReader& r, Scenario& s);
// A fault's "at", server-side or network: required, and before the run's
// end, or the fault never happens and the run would pass without it
// (network_reader.cpp). A problem is reported and a zero returned otherwise.
ScaledDuration read_fault_at(ObjectReader& fr, const Scenario& s);
void read_server_tcp(ObjectReader& r, ServerSettings& server);
void read_client_tcp(ObjectReader& r, ConnectArgs& args);
void read_process(ObjectReader& r, ProcessSpec& p, const PoolSettings& defaults,
                  const PatternCatalog& catalog);

}  // namespace pgleak::scenario::detail
