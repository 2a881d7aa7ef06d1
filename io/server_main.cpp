#include "io/server_main.hpp"

#include <chrono>
#include <csignal>
#include <fstream>

#include "engine/log.hpp"
#include "engine/metrics.hpp"
#include "engine/runtime.hpp"
#include "io/config.hpp"
#include "io/server.hpp"
#include "storage/snapshot_store.hpp"
#include "storage/snapshot_writer.hpp"

namespace partyd {

int server_main(int argc, char** argv, game_list games) {
  // A peer that closes its socket must cost an EPIPE error, never the process.
  std::signal(SIGPIPE, SIG_IGN);
  int exit_code = 0;
  auto config = parse_config(argc, argv, games, exit_code);
  if (!config) {
    return exit_code;
  }
  log::level level = log::level::info;
  if (!log::parse_level(config->log_level, level)) {
    log::error("bad_config", {{"log_level", config->log_level}});
    return 2;
  }
  log::set_level(level);

  std::string store_error;
  std::unique_ptr<snapshot_store> store = make_snapshot_store(
      config->store, config->store_prefix, store_error, config->store_quarantine_prefix);
  if (!store && !store_error.empty()) {
    log::error("bad_config", {{"store", store_error}});
    return 2;
  }

  metrics_registry metrics;
  runtime engine(config->engine, metrics);
  for (const auto& game : games) {
    engine.add_module(game->make());
  }
  if (!config->default_game.empty() && !engine.module_by_name(config->default_game)) {
    log::error("bad_config", {{"default_game", config->default_game}, {"error", "no such game"}});
    return 2;
  }
  std::unique_ptr<snapshot_writer> writer;
  if (store) {
    writer = std::make_unique<snapshot_writer>(std::move(store), metrics);
    engine.set_snapshot_sink(writer.get());
  }
  engine.start();

  server edge(*config, engine, metrics);
  edge.context().writer = writer.get();
  std::uint16_t port = 0;
  try {
    port = edge.start();
  } catch (const std::exception& error) {
    log::error("listen_failed",
               {{"bind", config->bind_address}, {"port", config->port}, {"error", error.what()}});
    engine.stop();
    if (writer) writer->stop();
    return 1;
  }
  if (!config->port_file.empty()) {
    std::ofstream(config->port_file) << port << "\n";
  }
  // Restart: every room in the store comes back before /ready turns 200.
  if (writer) {
    const auto started = std::chrono::steady_clock::now();
    const restore_report report = restore_rooms(writer->store(), engine, metrics);
    const auto elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::steady_clock::now() - started)
                                .count();
    if (!report.store_ok) {
      log::error(
          "restore_store_unreachable",
          {{"store", writer->describe()}, {"error", report.error}, {"restored", report.restored}});
    }
    log::info("restore_complete", {{"store", writer->describe()},
                                   {"loaded", report.loaded},
                                   {"restored", report.restored},
                                   {"skipped", report.skipped},
                                   {"ms", elapsed_ms}});
    writer->start();
  }

  edge.set_ready();
  boost::json::array served;
  for (const auto* module : engine.modules()) {
    served.push_back(boost::json::object{{"game", module->name()}, {"path", module->ws_path()}});
  }
  log::info("started",
            {{"bind", config->bind_address},
             {"port", port},
             {"store", writer ? writer->describe() : "memory"},
             {"persistence", writer ? "snapshots, restored at boot"
                                    : "none: rooms live in memory only and a restart loses them"},
             {"io_threads", config->io_threads},
             {"workers", config->engine.workers},
             {"admin_api", config->admin_token.empty() ? "disabled" : "enabled"},
             {"games", std::move(served)}});
  edge.wait_for_signal();
  edge.shutdown();  // workers finish and hand their last snapshots to the writer
  if (writer) {
    writer->stop();  // ...which writes them before we exit
  }
  log::info("stopped");
  return 0;
}

}  // namespace partyd
