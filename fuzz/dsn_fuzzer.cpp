// libFuzzer target: DSN parsing, validation and redaction. Any input either
// parses or is a UsageError, and a password never shows: not in the redacted
// form of a DSN that parses, not in the error for one that does not. The
// input is tried as it is and with a known password before and after it, so
// the fuzzer explores DSNs that carry one wherever the syntax puts it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "db/conninfo.hpp"
#include "util/errors.hpp"

namespace {

constexpr const char* kSecret = "Qx7zSecretQx7z";

void check(const std::string& dsn, bool has_secret) {
  try {
    const auto info = pgleak::db::ConnInfo::parse(dsn);
    const auto redacted = info.redacted();
    if (has_secret && redacted.find(kSecret) != std::string::npos) {
      std::abort();  // a password in the redacted form
    }
    // (Only the known secret is looked for: a password may legitimately also
    // be a substring of, say, the user name, which is shown.)
    (void)info.to_libpq();
  } catch (const pgleak::util::UsageError& e) {
    if (has_secret && std::string{e.what()}.find(kSecret) != std::string::npos) {
      std::abort();  // a password in the error message
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  check(text, false);
  if (text.find(kSecret) != std::string::npos) {
    return 0;  // the input itself spells the marker in some other field, which may be shown
  }
  check(text + " password=" + kSecret, true);
  check(std::string{"password="} + kSecret + " " + text, true);
  check(std::string{"postgresql://u:"} + kSecret + "@" + text, true);
  check(text + (text.find('?') == std::string::npos ? "?" : "&") + "password=" + kSecret, true);
  return 0;
}
