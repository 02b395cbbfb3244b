#include "probe/pgbouncer_log.hpp"

#include <algorithm>

#include "db/sqlstate.hpp"

namespace pgleak::probe {
namespace {

// "no more connections allowed (max_client_conn)" -> the words in parentheses
// when there are some, else the text, lowercased, runs of anything but
// [a-z0-9] as one '_', at most 40 characters.
std::string snake_case(std::string_view text) {
  if (const auto open = text.rfind('('); open != std::string_view::npos && text.ends_with(")")) {
    text = text.substr(open + 1, text.size() - open - 2);
  }
  std::string out;
  for (const char c : text) {
    const char l = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    if ((l >= 'a' && l <= 'z') || (l >= '0' && l <= '9')) {
      out.push_back(l);
    } else if (!out.empty() && out.back() != '_') {
      out.push_back('_');
    }
    if (out.size() >= 40) {
      break;
    }
  }
  while (!out.empty() && out.back() == '_') {
    out.pop_back();
  }
  return out.empty() ? "unknown" : out;
}

}  // namespace

std::optional<PoolerError> parse_pooler_error(std::string_view line) {
  constexpr std::string_view kMarker = " pooler error: ";
  const auto at = line.find(kMarker);
  const auto warning = line.find(" WARNING C-");
  if (at == std::string_view::npos || warning == std::string_view::npos || warning > at) {
    return std::nullopt;
  }
  PoolerError e;
  e.timestamp = parse_utc_timestamp(line);
  // "C-0x...: <client> pooler error: ..."
  const auto colon = line.find(": ", warning);
  if (colon != std::string_view::npos && colon < at) {
    e.client = std::string{line.substr(colon + 2, at - colon - 2)};
  }
  e.text = std::string{line.substr(at + kMarker.size())};
  e.reason = db::pgbouncer_error_key(e.text);
  if (e.reason.empty()) {
    e.reason = snake_case(e.text);
  }
  return e;
}

PgBouncerLogTailer::PgBouncerLogTailer(std::string path, record::Recorder& recorder)
    : recorder_(recorder),
      follower_(std::move(path), [this](std::string_view line) { on_line(line); }) {}

void PgBouncerLogTailer::on_line(std::string_view line) {
  auto e = parse_pooler_error(line);
  if (!e) {
    return;
  }
  record::Event ev;
  ev.kind = record::kPgBouncerLog;
  if (e->timestamp) {
    ev.t_s = std::max(1e-6, recorder_.seconds_at(*e->timestamp));  // never 0: "stamp it now"
  }
  ev.message = "pooler error: " + e->text + " (client " + e->client + ")";
  ev.pgbouncer_error = std::move(e->reason);
  recorder_.add_event(std::move(ev));
}

}  // namespace pgleak::probe
