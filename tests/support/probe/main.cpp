// partyd with one more game: the test-only probe. Adding a game is this one line.
#include "games/registry.hpp"
#include "io/server_main.hpp"
#include "probe/probe_game.hpp"

int main(int argc, char** argv) {
  partyd::game_list games = partyd::game_factories();
  games.push_back(partyd::factory_of<partyd::testing::probe_module>());
  return partyd::server_main(argc, argv, std::move(games));
}
