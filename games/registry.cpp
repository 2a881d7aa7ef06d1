#include "games/registry.hpp"

#include <memory>

namespace partyd {

void register_games(runtime& rt, const games_config& config) {
  rt.add_module(std::make_unique<relay_module>(config.relay));
  rt.add_module(std::make_unique<brainrot_module>(config.brainrot));
}

}  // namespace partyd
