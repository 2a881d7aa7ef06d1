// A session game's settings (engine/session.hpp) as flags: --<game>-session-backfill-ms and the
// rest, listed in docs/protocol/sessions.md ("Settings") and docs/operations.md.
#pragma once

#include <string>
#include <string_view>

#include "engine/game_factory.hpp"
#include "engine/session.hpp"

namespace partyd {

void declare_session_options(option_list& options, std::string_view game, session_policy& policy);
// Empty when the windows are in order (backfill <= resume <= removal...); else what is wrong.
std::string check_session_policy(std::string_view game, const session_policy& policy);

}  // namespace partyd
