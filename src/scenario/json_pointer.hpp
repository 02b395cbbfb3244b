#pragma once

#include <string>
#include <string_view>

namespace pgleak::scenario {

// One reference token of a JSON pointer, escaped as RFC 6901 says: "~" is
// written "~0" and "/" is written "~1", so the key "a/b~c" is "/a~1b~0c".
std::string pointer_token(std::string_view key);

// Text from a scenario quoted in a message: at most `max` characters, with
// the rest elided, so a 50,000-character name does not flood the terminal.
std::string excerpt(std::string_view text, size_t max = 64);

}  // namespace pgleak::scenario
