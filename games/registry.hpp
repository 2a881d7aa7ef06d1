// The list of games partyd serves: one registration line per game in registry.cpp.
// Thread: called once at start-up, before runtime::start().
#pragma once

#include "engine/runtime.hpp"
#include "games/brainrot/module.hpp"
#include "games/relay/module.hpp"

namespace partyd {

struct games_config {
  relay_config relay;
  brainrot_config brainrot;
};

void register_games(runtime& rt, const games_config& config);

}  // namespace partyd
