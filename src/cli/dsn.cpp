#include "cli/dsn.hpp"

#include <algorithm>
#include <cctype>
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

// A --dsn-file argument as it may be printed: a path, or, when it looks like
// the DSN itself given by mistake, not at all.
std::string shown_path(const std::string& path) {
  return may_hold_password(path) ? std::string{"(a path that looks like a DSN, not shown: give "
                                               "the DSN in a file, or with --dsn)"}
                                 : util::printable(path);
}

}  // namespace

bool may_hold_password(std::string_view text) {
  std::string lower{text};
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower.find("password") != std::string::npos ||
      (lower.find("://") != std::string::npos && lower.find('@') != std::string::npos)) {
    return true;
  }
  try {
    return db::ConnInfo::parse(text).has_password();
  } catch (const util::UsageError&) {
    return false;
  }
}

std::string without_secrets(std::string message, int argc, const char* const* argv) {
  static constexpr std::string_view kHidden = "<an argument that may hold a password, not shown>";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg{argv[i]};
    if (arg.size() < 3 || !may_hold_password(arg)) {
      continue;
    }
    for (auto at = message.find(arg); at != std::string::npos;
         at = message.find(arg, at + kHidden.size())) {
      message.replace(at, arg.size(), kHidden);
    }
  }
  return message;
}

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
      throw util::UsageError("--dsn-file " + shown_path(flags.dsn_file) + ": " + e.what());
    }
    if (text.empty()) {
      throw util::UsageError("--dsn-file " + shown_path(flags.dsn_file) + " is empty");
    }
    if (text.find_first_of("\r\n") != std::string::npos) {
      throw util::UsageError("--dsn-file " + shown_path(flags.dsn_file) +
                             " holds more than one line: a DSN is one line");
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
