#include "report/junit_report.hpp"

#include <fmt/format.h>

#include "util/text.hpp"

namespace pgleak::report {

std::string xml_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : util::valid_utf8(text)) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        // XML 1.0 allows no control characters but tab, newline and carriage return.
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\t' || c == '\n' || c == '\r') {
          out.push_back(c);
        }
    }
  }
  return out;
}

std::string junit_xml(const scenario::Scenario& sc, const record::RunResult& r,
                      const analysis::Verdict& v) {
  int failures = 0;
  for (const auto& t : v.thresholds) {
    failures += t.pass ? 0 : 1;
  }
  const bool incomplete = r.status != record::RunStatus::kCompleted;
  const int tests = static_cast<int>(v.thresholds.size()) + (incomplete ? 1 : 0);
  failures += incomplete ? 1 : 0;

  std::string evidence;
  for (const auto& reason : v.reasons) {
    evidence += reason + "\n";
  }
  std::string xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  xml += fmt::format(
      "<testsuites name=\"pgleak\" tests=\"{}\" failures=\"{}\" errors=\"0\" "
      "time=\"{:.3f}\">\n",
      tests, failures, r.wall_s);
  xml += fmt::format(
      "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" "
      "skipped=\"0\" time=\"{:.3f}\" timestamp=\"{}\">\n",
      xml_escape(sc.name), tests, failures, r.wall_s, xml_escape(r.started_at_utc.substr(0, 19)));
  const auto classname = xml_escape("pgleak." + sc.name);
  if (incomplete) {
    xml += fmt::format(
        "    <testcase classname=\"{}\" name=\"run completes\" time=\"{:.3f}\">\n"
        "      <failure type=\"incomplete\" message=\"{}\">{}</failure>\n"
        "    </testcase>\n",
        classname, r.wall_s, xml_escape(std::string{record::to_string(r.status)}),
        xml_escape(r.status_detail));
  }
  for (const auto& t : v.thresholds) {
    const auto name = xml_escape(t.expectation.metric + " " + t.expectation.text);
    if (t.pass) {
      xml +=
          fmt::format("    <testcase classname=\"{}\" name=\"{}\" time=\"0\"/>\n", classname, name);
      continue;
    }
    xml += fmt::format(
        "    <testcase classname=\"{}\" name=\"{}\" time=\"0\">\n"
        "      <failure type=\"threshold\" message=\"{}\">{}</failure>\n"
        "    </testcase>\n",
        classname, name,
        xml_escape(fmt::format("expected {} {}, actual {}", t.expectation.metric,
                               t.expectation.text, t.actual.dump())),
        xml_escape(evidence));
  }
  xml += "  </testsuite>\n</testsuites>\n";
  return xml;
}

}  // namespace pgleak::report
