// The whole server: wires configuration, the engine, the given games, the snapshot store and the
// network edge, runs until SIGTERM or SIGINT, and returns the process exit code. io/main.cpp
// calls it with the registered games; a test binary may add its own.
#pragma once

#include "engine/game_factory.hpp"

namespace partyd {

int server_main(int argc, char** argv, game_list games);

}  // namespace partyd
