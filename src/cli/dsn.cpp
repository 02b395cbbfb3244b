#include "cli/dsn.hpp"

#include <cstdlib>
#include <cstring>

#include "db/conninfo.hpp"
#include "util/errors.hpp"
#include "util/files.hpp"
#include "util/text.hpp"

namespace pgleak::cli {
namespace {

std::string trim(std::string text) {
  const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!text.empty() && blank(text.back())) {
    text.pop_back();
  }
  size_t start = 0;
  while (start < text.size() && blank(text[start])) {
    ++start;
  }
  return text.substr(start);
}

}  // namespace

std::string resolve_dsn(const DsnFlags& flags) {
  if (flags.dsn_given && !flags.dsn_file.empty()) {
    throw util::UsageError("give --dsn or --dsn-file, not both");
  }
  if (flags.dsn_given) {
    if (flags.dsn.empty()) {
      throw util::UsageError(
          "--dsn is empty; leave it out to use the embedded server, or name a target");
    }
    return flags.dsn;
  }
  if (!flags.dsn_file.empty()) {
    std::string text;
    try {
      text = trim(util::read_regular_file(flags.dsn_file, db::kMaxDsnLength + 64));
    } catch (const util::UsageError& e) {
      throw util::UsageError("--dsn-file " + util::printable(flags.dsn_file) + ": " + e.what());
    }
    if (text.empty()) {
      throw util::UsageError("--dsn-file " + util::printable(flags.dsn_file) + " is empty");
    }
    return text;
  }
  if (const char* env = std::getenv("PGLEAK_DSN"); env != nullptr) {
    if (*env == '\0') {
      throw util::UsageError("PGLEAK_DSN is set but empty; unset it to use the embedded server");
    }
    return env;
  }
  return {};
}

void scrub_dsn_from_argv(int argc, char** argv, const std::string& dsn) {
  if (dsn.empty()) {
    return;
  }
  try {
    if (!db::ConnInfo::parse(dsn).has_password()) {
      return;
    }
  } catch (const util::UsageError&) {
    // Unparseable: scrub it anyway, it may still hold a password.
  }
  for (int i = 1; i < argc; ++i) {
    char* arg = argv[i];
    const size_t length = std::strlen(arg);
    char* value = nullptr;
    if (arg == dsn) {
      value = arg;
    } else if (std::strncmp(arg, "--dsn=", 6) == 0 && std::strcmp(arg + 6, dsn.c_str()) == 0) {
      value = arg + 6;
    }
    if (value != nullptr) {
      std::memset(value, '*', length - static_cast<size_t>(value - arg));
    }
  }
}

}  // namespace pgleak::cli
