// A run's id: drawn at random, or, for the shards of one run, from the name
// they share. Declared in runner.hpp.
#include <random>

#include "run/runner.hpp"
#include "scenario/backend_tag.hpp"
#include "scenario/shard.hpp"

namespace pgleak::run {

namespace {
constexpr std::string_view kRunIdAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
}  // namespace

std::string make_run_id() {
  std::random_device rd;
  std::uniform_int_distribution<size_t> pick{0, kRunIdAlphabet.size() - 1};
  std::string id;
  for (size_t i = 0; i < scenario::kRunIdLength; ++i) {
    id.push_back(kRunIdAlphabet[pick(rd)]);
  }
  return id;
}

std::string run_id_from_name(const std::string& name) {
  uint64_t h = scenario::fnv1a64(name);
  std::string id;
  for (size_t i = 0; i < scenario::kRunIdLength; ++i) {
    id.push_back(kRunIdAlphabet[h % kRunIdAlphabet.size()]);
    h /= kRunIdAlphabet.size();
  }
  return id;
}

}  // namespace pgleak::run
