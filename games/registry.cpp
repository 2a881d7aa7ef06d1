#include "games/registry.hpp"

#include "games/alias/module.hpp"
#include "games/brainrot/module.hpp"
#include "games/mafia/module.hpp"
#include "games/quiz/module.hpp"
#include "games/relay/module.hpp"

namespace partyd {

game_list game_factories() {
  game_list games;
  games.push_back(factory_of<relay_module>());
  games.push_back(factory_of<brainrot_module>());
  games.push_back(factory_of<quiz_module>());
  games.push_back(factory_of<alias_module>());
  games.push_back(factory_of<mafia_module>());
  return games;
}

}  // namespace partyd
