// partyd: the server with every registered game (games/registry.cpp).
#include "games/registry.hpp"
#include "io/server_main.hpp"

int main(int argc, char** argv) {
  return partyd::server_main(argc, argv, partyd::game_factories());
}
