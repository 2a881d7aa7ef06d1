// The probe: a test-only game, registered in the partyd_probe binary by one line
// (tests/support/probe/main.cpp), that proves a game needs nothing outside its own folder and
// that the engine contains a failing game. JSON messages {"type": T, ...}:
//   join {room}   first message: bound as player, answers welcome {greeting, n}
//   bump          n += 1, answers count {n} (important: snapshotted at once)
//   draw          answers draw {value}: the room rng's next value below 1,000,000 (important)
//   noop          answers noop; changes nothing (the state version stays)
//   fail          the step throws: a game-rule failure
//   reserved      the step arms an engine-reserved timer key: refused as a game failure
// Its one flag, --probe-greeting, is declared by the module like any game's.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "engine/game_factory.hpp"
#include "games/common/module_base.hpp"

namespace partyd::testing {

struct probe_config {
  std::size_t max_message_bytes = 4096;
  std::string greeting = "hello";
};

class probe_module : public module_base<probe_config> {
 public:
  static constexpr std::string_view game_name = "probe";
  static void declare_options(option_list& options, probe_config& config);
  static std::string check_config(const probe_config& config);

  explicit probe_module(probe_config config = {});

  decode_result decode(std::string_view text, bool first_message) const override;
  std::string encode_error(std::string_view code, std::string_view message) const override;
  create_result create(const boost::json::object& options, std::string_view code) const override;
  std::unique_ptr<game> restore(std::string_view bytes) const override;
};

}  // namespace partyd::testing
