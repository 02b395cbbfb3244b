// libFuzzer target: DSN parsing, validation and redaction. Any input either
// parses or is a UsageError; a parsed password never appears in the redacted
// form, and the error for an unparseable DSN never quotes the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "db/conninfo.hpp"
#include "util/errors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const auto info = pgleak::db::ConnInfo::parse(text);
    const auto redacted = info.redacted();
    if (const auto* pw = info.get("password"); pw != nullptr && pw->size() >= 12) {
      // Long enough not to occur in the rest of the rendering by chance.
      if (redacted.find(*pw) != std::string::npos) {
        std::abort();
      }
    }
    (void)info.to_libpq();
  } catch (const pgleak::util::UsageError& e) {
    const std::string why = e.what();
    if (text.size() >= 16 && why.find(text) != std::string::npos) {
      std::abort();  // the DSN was echoed
    }
  }
  return 0;
}
