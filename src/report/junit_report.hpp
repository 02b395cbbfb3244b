#pragma once

#include <string>

#include "analysis/verdict.hpp"
#include "record/run_result.hpp"
#include "scenario/scenario.hpp"

namespace pgleak::report {

// JUnit XML for CI systems (GitLab, Jenkins, GitHub reporters): one
// <testsuite> per scenario, one <testcase> per threshold (the verdict among
// them), a <failure> carrying the evidence for each that failed. The shape is
// the common subset those reporters read; tests/data/junit.xsd pins it.
std::string junit_xml(const scenario::Scenario& scenario, const record::RunResult& result,
                      const analysis::Verdict& verdict);

// XML text escaping for attribute values and character data.
std::string xml_escape(const std::string& text);

}  // namespace pgleak::report
