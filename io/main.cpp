// partyd: wires configuration, the engine, the games and the network edge together.
#include <fstream>

#include "engine/log.hpp"
#include "engine/metrics.hpp"
#include "engine/runtime.hpp"
#include "games/registry.hpp"
#include "io/config.hpp"
#include "io/server.hpp"

int main(int argc, char** argv) {
  using namespace partyd;
  int exit_code = 0;
  auto config = parse_config(argc, argv, exit_code);
  if (!config) {
    return exit_code;
  }
  log::level level = log::level::info;
  if (!log::parse_level(config->log_level, level)) {
    log::error("bad_config", {{"log_level", config->log_level}});
    return 2;
  }
  log::set_level(level);

  metrics_registry metrics;
  runtime engine(config->engine, metrics);
  register_games(engine, config->games);
  engine.start();

  server edge(*config, engine, metrics);
  std::uint16_t port = 0;
  try {
    port = edge.start();
  } catch (const std::exception& error) {
    log::error("listen_failed", {{"bind", config->bind_address},
                                 {"port", config->port},
                                 {"error", error.what()}});
    engine.stop();
    return 1;
  }
  if (!config->port_file.empty()) {
    std::ofstream(config->port_file) << port << "\n";
  }
  boost::json::array games;
  for (const auto* module : engine.modules()) {
    games.push_back(boost::json::object{{"game", module->name()}, {"path", module->ws_path()}});
  }
  log::info("started", {{"bind", config->bind_address},
                        {"port", port},
                        {"store", "memory"},
                        {"persistence", "none: rooms live in memory only and a restart loses them"},
                        {"io_threads", config->io_threads},
                        {"workers", config->engine.workers},
                        {"admin_api", config->admin_token.empty() ? "disabled" : "enabled"},
                        {"games", std::move(games)}});
  edge.wait_for_signal();
  edge.shutdown();
  log::info("stopped");
  return 0;
}
