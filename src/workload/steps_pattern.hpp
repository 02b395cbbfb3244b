#pragma once

#include <memory>
#include <vector>

#include "scenario/steps.hpp"
#include "workload/session_pattern.hpp"

namespace pgleak::workload {

// Runs a worker group's own `steps` (scenario/steps.hpp) the way the Python
// they stand for would run:
//  - names are the worker's variables; each holds a Session (or the process's
//    shared one), and a session nothing refers to any more is collected at
//    once (its connection goes back, rolled back), as CPython's reference
//    counting does;
//  - a failed statement, a pool timeout, a refused connection, a lost
//    connection and "raise" are exceptions: recorded as the application saw
//    them, then caught by the nearest "try" with an "except", or ending the
//    unit of work (the next one starts), or, outside the loop, the worker;
//  - at the end of the steps the worker returns, and its named sessions are
//    collected; sessions it kept stay until its process ends.
// `steps` must outlive the pattern (they live in the scenario).
std::unique_ptr<SessionPattern> make_steps_pattern(const std::vector<scenario::Step>& steps);

}  // namespace pgleak::workload
