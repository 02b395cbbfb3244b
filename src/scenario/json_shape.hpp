#pragma once

#include <string>
#include <vector>

#include "scenario/loader.hpp"

// Internal to scenario/: what a JSON parser into a tree cannot report.
namespace pgleak::scenario::detail {

// How deep a scenario's objects and arrays may nest (the deepest real one is 6).
inline constexpr size_t kMaxDepth = 32;

// Reads `text` as a stream of JSON events (no tree) and reports every key that
// appears twice in one object, with its JSON pointer (a tree parser silently
// keeps the last one), and nesting deeper than kMaxDepth. Syntax errors are
// left to the tree parser, which reports them with a line and column.
std::vector<Problem> shape_problems(const std::string& text);

}  // namespace pgleak::scenario::detail
