// JSON string escaping for hand-written JSON (snapshot envelopes, games/common/json_writer):
// byte for byte what Boost.JSON's serializer writes, appended without a temporary.
#pragma once

#include <string>
#include <string_view>

namespace partyd {

// Appends `text` as a JSON string (quotes included) to `out`.
void append_json_string(std::string& out, std::string_view text);

}  // namespace partyd
