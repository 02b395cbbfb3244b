#pragma once

#include <string>
#include <string_view>

namespace pgleak::util {

// Text that pgleak did not write itself (a server's messages, other sessions'
// query text and application_name, file names, scenario strings), made safe
// for a terminal: C0 and C1 control characters, DEL and bytes that are not
// valid UTF-8 become visible escapes (\x1b, \u009b), so nobody can move the
// cursor, clear the operator's screen or forge a line. Printable UTF-8 is kept.
std::string printable(std::string_view text);

// printable() line by line: newlines are kept (multi-line messages such as a
// scenario's problem list), every other control character is escaped.
std::string printable_lines(std::string_view text);

// The same text made valid UTF-8 for JSON (invalid bytes become U+FFFD); the
// JSON writer escapes control characters itself.
std::string valid_utf8(std::string_view text);

// A SQLSTATE's shape: five characters of 0-9 and A-Z. What a file or a
// server calls one is taken only if it is one ("__proto__" is not).
bool is_sqlstate(std::string_view text);

}  // namespace pgleak::util
