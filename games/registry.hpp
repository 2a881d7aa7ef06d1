// The list of games partyd serves: one registration line per game in registry.cpp.
// Thread: called once at start-up.
#pragma once

#include "engine/game_factory.hpp"

namespace partyd {

// A fresh factory for every game, in registration order (the first is the default game).
game_list game_factories();

}  // namespace partyd
