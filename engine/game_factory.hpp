// How a game is registered: a factory that declares the game's own flags (bound to its config),
// checks the parsed config, and then builds the module. games/registry.cpp lists the factories,
// one line per game; io turns the declared options into command-line flags and PARTYD_*
// environment variables without naming any game.
// Thread: start-up only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/game.hpp"

namespace partyd {

// A game's flags. Each is bound to a field of the game's config, which keeps its default.
class option_list {
 public:
  using target = std::variant<std::size_t*, std::uint32_t*, std::int64_t*, std::string*, bool*>;
  struct option {
    std::string name;  // flag name without "--"; PARTYD_<NAME> in upper snake case sets it too
    std::string help;
    target bound;
  };

  template <class T>
  void add(std::string name, T& field, std::string help) {
    options_.push_back(option{std::move(name), std::move(help), target(&field)});
  }
  const std::vector<option>& options() const noexcept { return options_; }

 private:
  std::vector<option> options_;
};

class game_factory {
 public:
  virtual ~game_factory() = default;
  virtual std::string_view name() const noexcept = 0;
  // Declares the game's flags, bound to this factory's config.
  virtual void declare_options(option_list& options) = 0;
  // After parsing: empty when the config is usable, else why not (printed, exit code 2).
  virtual std::string check() const = 0;
  virtual std::unique_ptr<game_module> make() const = 0;
};

// The factory of a module type that provides:
//   using config_type = ...;                       its limits and options
//   static constexpr std::string_view game_name;
//   static void declare_options(option_list&, config_type&);
//   static std::string check_config(const config_type&);
//   explicit Module(config_type);
template <class Module>
class module_factory final : public game_factory {
 public:
  std::string_view name() const noexcept override { return Module::game_name; }
  void declare_options(option_list& options) override { Module::declare_options(options, config_); }
  std::string check() const override { return Module::check_config(config_); }
  std::unique_ptr<game_module> make() const override { return std::make_unique<Module>(config_); }

  typename Module::config_type& config() noexcept { return config_; }

 private:
  typename Module::config_type config_{};
};

template <class Module>
std::unique_ptr<game_factory> factory_of() {
  return std::make_unique<module_factory<Module>>();
}

// The games a server serves, in registration order; the first is the default game of the admin
// API's POST /api/rooms.
using game_list = std::vector<std::unique_ptr<game_factory>>;

}  // namespace partyd
