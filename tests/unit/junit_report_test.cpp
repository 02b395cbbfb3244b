// JUnit output read back by a real XML parser (libxml2) and validated against
// tests/data/junit.xsd, the shape CI reporters expect.
#include "report/junit_report.hpp"

#include <gtest/gtest.h>
#include <libxml/parser.h>
#include <libxml/xmlschemas.h>
#include <libxml/xpath.h>

#include <memory>

#include "scenario/loader.hpp"
#include "workload/pattern_registry.hpp"

namespace pgleak::report {
namespace {

struct ValidatedDoc {
  std::unique_ptr<xmlDoc, decltype(&xmlFreeDoc)> doc{nullptr, &xmlFreeDoc};
  bool valid = false;
};

ValidatedDoc parse_and_validate(const std::string& xml) {
  ValidatedDoc out;
  out.doc.reset(xmlReadMemory(xml.data(), static_cast<int>(xml.size()), "junit.xml", nullptr,
                              XML_PARSE_NONET));
  if (!out.doc) {
    return out;
  }
  const std::string xsd = std::string{PGLEAK_SOURCE_DIR} + "/tests/data/junit.xsd";
  std::unique_ptr<xmlSchemaParserCtxt, decltype(&xmlSchemaFreeParserCtxt)> pctx{
      xmlSchemaNewParserCtxt(xsd.c_str()), &xmlSchemaFreeParserCtxt};
  std::unique_ptr<xmlSchema, decltype(&xmlSchemaFree)> schema{xmlSchemaParse(pctx.get()),
                                                              &xmlSchemaFree};
  std::unique_ptr<xmlSchemaValidCtxt, decltype(&xmlSchemaFreeValidCtxt)> vctx{
      xmlSchemaNewValidCtxt(schema.get()), &xmlSchemaFreeValidCtxt};
  out.valid = schema && xmlSchemaValidateDoc(vctx.get(), out.doc.get()) == 0;
  return out;
}

int count(xmlDoc* doc, const char* xpath) {
  std::unique_ptr<xmlXPathContext, decltype(&xmlXPathFreeContext)> ctx{xmlXPathNewContext(doc),
                                                                       &xmlXPathFreeContext};
  std::unique_ptr<xmlXPathObject, decltype(&xmlXPathFreeObject)> result{
      xmlXPathEvalExpression(reinterpret_cast<const xmlChar*>(xpath), ctx.get()),
      &xmlXPathFreeObject};
  return result && result->nodesetval ? result->nodesetval->nodeNr : 0;
}

TEST(JunitReport, OneCasePerThresholdAndFailuresCarryEvidence) {
  const auto sc = scenario::parse(R"({"name": "gate", "duration": "1m",
    "expect": {"peak_connections": "<= 20", "pool_timeouts": "== 0"},
    "processes": [{"name": "p", "workers": [{"pattern": "scoped"}]}]})",
                                  "j.json", workload::PatternRegistry::builtin().catalog());
  record::RunResult r;
  r.started_at_utc = "2026-11-26T15:00:00Z";
  r.wall_s = 12.5;
  analysis::Verdict v;
  v.pass = false;
  v.thresholds.push_back({sc.expect[0], false, 35, false});
  v.thresholds.push_back({sc.expect[1], false, 0, true});
  v.reasons = {"peak_connections <= 20 failed: actual 35", "leak: \"quotes\" & <angles>\x01"};

  const auto xml = junit_xml(sc, r, v);
  const auto doc = parse_and_validate(xml);
  ASSERT_TRUE(doc.doc) << xml;
  EXPECT_TRUE(doc.valid) << xml;
  EXPECT_EQ(count(doc.doc.get(), "/testsuites/testsuite[@name='gate']"), 1);
  EXPECT_EQ(count(doc.doc.get(), "//testcase"), 2);
  EXPECT_EQ(count(doc.doc.get(), "//testcase/failure"), 1);
  EXPECT_EQ(count(doc.doc.get(), "/testsuites[@tests='2' and @failures='1']"), 1);
  EXPECT_EQ(count(doc.doc.get(), "//testcase[@name='peak_connections <= 20']/failure"), 1);
  // The evidence survives escaping: quotes, ampersands and angle brackets read back intact.
  EXPECT_EQ(count(doc.doc.get(), "//failure[contains(., 'leak: \"quotes\" & <angles>')]"), 1);
}

TEST(JunitReport, AnIncompleteRunIsAFailingCase) {
  const auto sc = scenario::parse(R"({"name": "g", "duration": "1m",
    "processes": [{"name": "p", "workers": [{"pattern": "scoped"}]}]})",
                                  "j.json", workload::PatternRegistry::builtin().catalog());
  record::RunResult r;
  r.started_at_utc = "2026-11-26T15:00:00Z";
  r.status = record::RunStatus::kTargetLost;
  r.status_detail = "the server went away";
  analysis::Verdict v;
  const auto doc = parse_and_validate(junit_xml(sc, r, v));
  ASSERT_TRUE(doc.doc);
  EXPECT_TRUE(doc.valid);
  EXPECT_EQ(count(doc.doc.get(), "//testcase[@name='run completes']/failure"), 1);
}

}  // namespace
}  // namespace pgleak::report
