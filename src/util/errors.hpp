#pragma once

#include <stdexcept>
#include <string>

// The error hierarchy of pgleak. Every error is caught once, in cli/, where its
// type chooses the process exit code (see cli/exit_code.hpp).
namespace pgleak::util {

// Bad command-line usage or an unusable input file (exit code 2).
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The target could not be reached, or pgleak's own machinery failed: the
// embedded server did not start, the sampler lost the server (exit code 3).
class InfrastructureError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace pgleak::util
