// What every game module repeats: its config, name, WebSocket path, message limit and wire names.
// A module derives from module_base<its config> and adds decode, errors, create and restore.
// Thread: immutable after start-up, like every game_module.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>
#include <utility>

#include "engine/game.hpp"
#include "games/common/reply_bound.hpp"

namespace partyd {

struct wire_names {
  std::span<const std::string_view> roles;
  std::span<const std::string_view> in_types;
  std::span<const std::string_view> out_types;
};

// Config must have `max_message_bytes`; a config with `largest_reply_bytes()` says the largest
// reply of the game (games/common/reply_bound.hpp), else it is taken as the message limit.
template <class Config>
class module_base : public game_module, public reply_bound {
 public:
  using config_type = Config;

  module_base(std::string_view name, std::string_view ws_path, wire_names names, Config config)
      : name_(name), ws_path_(ws_path), names_(names), config_(std::move(config)) {}

  std::string_view name() const noexcept final { return name_; }
  std::string_view ws_path() const noexcept final { return ws_path_; }
  std::size_t max_message_bytes() const noexcept final { return config_.max_message_bytes; }
  std::span<const std::string_view> role_names() const noexcept final { return names_.roles; }
  std::span<const std::string_view> in_types() const noexcept final { return names_.in_types; }
  std::span<const std::string_view> out_types() const noexcept final { return names_.out_types; }
  std::size_t largest_reply_bytes() const noexcept final {
    if constexpr (requires(const Config& c) { c.largest_reply_bytes(); }) {
      return config_.largest_reply_bytes();
    } else {
      return config_.max_message_bytes;
    }
  }

  const Config& config() const noexcept { return config_; }

 private:
  std::string_view name_;
  std::string_view ws_path_;
  wire_names names_;
  Config config_;
};

}  // namespace partyd
