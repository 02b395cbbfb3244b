// libFuzzer target: DSN parsing, validation and redaction. Any input either
// parses or is a UsageError, and a password never shows: not in the redacted
// form of a DSN that parses, not in the error for one that does not.
//
// Each input is tried with a known password in four positions (keyword form
// before and after it, URL userinfo, URL query). What pgleak prints is
// compared with what it prints for the same DSN with another password: the
// marker may appear only where the input itself spelled it (the fuzzer
// learns the marker, and libpq's escapes can spell it in any field).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <string>

#include "db/conninfo.hpp"
#include "util/errors.hpp"

namespace {

constexpr const char* kSecret = "Qx7zSecretQx7z";
constexpr const char* kOther = "Kp4wOtherKp4w0";

// What pgleak would print about `dsn`: its redacted form, or the error.
std::string shown(const std::string& dsn) {
  try {
    const auto info = pgleak::db::ConnInfo::parse(dsn);
    (void)info.to_libpq();
    return info.redacted();
  } catch (const pgleak::util::UsageError& e) {
    return e.what();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  (void)shown(text);  // parses or refuses, never crashes
  const std::function<std::string(const std::string&)> variants[] = {
      [&](const std::string& pw) { return text + " password=" + pw; },
      [&](const std::string& pw) { return "password=" + pw + " " + text; },
      [&](const std::string& pw) { return "postgresql://u:" + pw + "@" + text; },
      [&](const std::string& pw) {
        return text + (text.find('?') == std::string::npos ? "?" : "&") + "password=" + pw;
      },
  };
  for (const auto& variant : variants) {
    const bool leaked = shown(variant(kSecret)).find(kSecret) != std::string::npos;
    const bool spelled_by_input = shown(variant(kOther)).find(kSecret) != std::string::npos;
    if (leaked && !spelled_by_input) {
      std::abort();  // the password we put in came out
    }
  }
  return 0;
}
