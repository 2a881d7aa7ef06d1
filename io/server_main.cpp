#include "io/server_main.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "engine/log.hpp"
#include "engine/metrics.hpp"
#include "engine/runtime.hpp"
#include "games/common/reply_bound.hpp"
#include "io/config.hpp"
#include "io/server.hpp"
#include "storage/history_writer.hpp"
#include "storage/snapshot_store.hpp"
#include "storage/snapshot_writer.hpp"

namespace partyd {

namespace {

// Rooms' records (effects::record) go to the history writer's queue.
class history_record_sink final : public record_sink {
 public:
  explicit history_record_sink(history_writer& writer) : writer_(writer) {}

  bool offer(std::string_view game, const boost::json::object& record,
             std::function<void()> on_written) override {
    std::string error;
    std::optional<history_record> parsed = history_record_from_json(record, error);
    try {
      if (parsed) return writer_.submit(std::move(*parsed), std::move(on_written));
    } catch (const history_error& refused) {
      error = refused.what();
    }
    // No database would ever take it: the room is told it is done with it, and it is logged.
    log::error("history_record_refused", {{"game", game}, {"error", error}});
    on_written();
    return true;
  }

 private:
  history_writer& writer_;
};

std::string history_url_of(const server_config& config) {
  if (config.history != "auto") return config.history == "none" ? std::string() : config.history;
  if (config.store.rfind("file:", 0) == 0)
    return "sqlite:" + config.store.substr(5) + "/history.sqlite3";
  if (config.store == "memory") return {};
  return "sqlite:partyd-history.sqlite3";
}

}  // namespace

int server_main(int argc, char** argv, game_list games) {
  // A peer that closes its socket must cost an EPIPE error, never the process.
  std::signal(SIGPIPE, SIG_IGN);
  int exit_code = 0;
  auto config = parse_config(argc, argv, games, exit_code);
  if (!config) {
    return exit_code;
  }
  // The largest reply each game may send with its limits must fit a connection's outbox.
  for (const auto& game : games) {
    if (std::string problem = check_largest_reply(*game->make(), config->outbox_max_bytes);
        !problem.empty()) {
      std::cerr << "partyd: " << problem << "\n";
      return 2;
    }
  }
  log::level level = log::level::info;
  if (!log::parse_level(config->log_level, level)) {
    log::error("bad_config", {{"log_level", config->log_level}});
    return 2;
  }
  log::set_level(level);

  // The key is read before anything starts: a key that cannot be used stops the start.
  std::string auth_error;
  std::optional<token_verifier> verifier = token_verifier::make(config->auth, auth_error);
  if (!verifier) {
    log::error("bad_config", {{"auth", auth_error}});
    return 2;
  }

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
  std::unique_ptr<history_writer> history;
  std::optional<history_record_sink> history_sink;
  const std::string history_url = history_url_of(*config);
  if (!history_url.empty()) {
    try {
      if (config->history == "auto" && config->store.rfind("file:", 0) == 0) {
        // Beside the file store, whose directory the store makes only when it first writes.
        std::filesystem::create_directories(config->store.substr(5));
      }
      history_writer_options history_options;
      history_options.queue_max = config->history_queue_max;
      history = std::make_unique<history_writer>(history_url, metrics, history_options);
    } catch (const std::exception& error) {
      log::error("bad_config", {{"history", error.what()}});
      return 2;
    }
    history_sink.emplace(*history);
    engine.set_record_sink(&*history_sink);
    history->start();
  }
  std::unique_ptr<snapshot_writer> writer;
  if (store) {
    writer = std::make_unique<snapshot_writer>(std::move(store), metrics);
    engine.set_snapshot_sink(writer.get());
  }
  engine.start();

  server edge(*config, engine, metrics);
  edge.context().writer = writer.get();
  edge.context().history = history.get();
  edge.context().auth = std::move(*verifier);
  std::uint16_t port = 0;
  try {
    port = edge.start();
  } catch (const std::exception& error) {
    log::error("listen_failed",
               {{"bind", config->bind_address}, {"port", config->port}, {"error", error.what()}});
    engine.stop();
    if (writer) writer->stop();
    if (history) history->stop();
    return 1;
  }
  if (!config->port_file.empty()) {
    std::ofstream(config->port_file) << port << "\n";
  }
  // A signal during the boot load (which may wait long for the store) stops the server cleanly:
  // caught here until wait_for_signal() takes over.
  boost::asio::io_context boot_signals_context;
  std::optional<boost::asio::signal_set> boot_signals(std::in_place, boot_signals_context, SIGINT,
                                                      SIGTERM);
  bool signalled = false;
  // Waits up to `timeout` for a signal (one already queued counts); true once one came.
  const auto signal_within = [&](std::chrono::milliseconds timeout) {
    boot_signals->async_wait([&](const boost::system::error_code& ec, int signal_number) {
      if (!ec) {
        signalled = true;
        log::info("signal_received", {{"signal", signal_number}});
      }
    });
    boot_signals_context.restart();
    boot_signals_context.run_for(timeout);
    boot_signals->cancel();  // no signal: the wait ends as aborted
    boot_signals_context.restart();
    boot_signals_context.poll();
    return signalled;
  };
  // Restart: every room in the store comes back before /ready turns 200. While the store cannot
  // be read the server stays `starting` (/ready 503 store_unreachable; room creation and
  // WebSocket upgrades answered 503 not_ready, so no new room can take a stored room's code) and
  // the load is retried with backoff until it succeeds.
  if (writer) {
    writer->set_on_store_lost([&engine] { engine.request_full_snapshot(); });
    room_loader loader(writer->store(), engine, metrics);
    restore_report total;
    bool rewrite_all = false;
    int attempts = 0;
    auto backoff = std::chrono::milliseconds(100);
    const auto started = std::chrono::steady_clock::now();
    for (;;) {
      ++attempts;
      const restore_report report = loader.load();
      total.loaded += report.loaded;
      total.restored += report.restored;
      total.skipped += report.skipped;
      // The store lost what an earlier attempt restored: write it all again once running.
      rewrite_all = rewrite_all || (!report.lost.empty() && total.restored > report.restored);
      writer->note_boot_load(report.store_ok);
      if (report.store_ok) {
        break;
      }
      log::error("restore_store_unreachable", {{"store", writer->describe()},
                                               {"error", report.error},
                                               {"restored", total.restored},
                                               {"attempt", attempts},
                                               {"retry_in_ms", backoff.count()}});
      if (signal_within(backoff)) {
        edge.shutdown();
        log::info("stopped");
        return 0;
      }
      backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    }
    const auto elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::steady_clock::now() - started)
                                .count();
    log::info("restore_complete", {{"store", writer->describe()},
                                   {"loaded", total.loaded},
                                   {"restored", total.restored},
                                   {"skipped", total.skipped},
                                   {"attempts", attempts},
                                   {"ms", elapsed_ms}});
    writer->start();
    if (rewrite_all) {
      engine.request_full_snapshot();
    }
  }

  edge.set_ready();
  const token_verifier& auth = edge.context().auth;
  boost::json::array served;
  boost::json::array auth_required;
  for (const auto* module : engine.modules()) {
    const bool required = auth.required_for(module->name(), module->requires_auth());
    served.push_back(boost::json::object{
        {"game", module->name()}, {"path", module->ws_path()}, {"auth_required", required}});
    if (required) {
      auth_required.push_back(boost::json::string(module->name()));
    }
  }
  if (auth.development()) {
    // Said loudly: a production server must not run like this by accident.
    log::warn("auth_development_mode",
              {{"auth", auth_mode_name(auth.mode())},
               {"games", auth_required},
               {"message",
                "no --auth-jwt-secret or --auth-jwt-public-key: development mode, games that "
                "require authentication accept an unverified ?name= instead of a token"}});
  }
  log::info("started",
            {{"bind", config->bind_address},
             {"port", port},
             {"store", writer ? writer->describe() : "memory"},
             {"persistence", writer ? "snapshots, restored at boot"
                                    : "none: rooms live in memory only and a restart loses them"},
             {"io_threads", config->io_threads},
             {"max_sockets", edge.context().max_sockets},
             {"max_connections_per_ip", config->max_connections_per_ip},
             {"descriptor_limit", edge.descriptor_limit()},
             {"workers", config->engine.workers},
             {"admin_api", config->admin_token.empty() ? "disabled" : "enabled"},
             {"auth", auth_mode_name(auth.mode())},
             {"games", std::move(served)}});
  if (!signal_within(std::chrono::milliseconds(0))) {
    boot_signals.reset();
    edge.wait_for_signal();
  }
  edge.shutdown();  // workers finish and hand their last snapshots to the writer
  if (writer) {
    writer->stop();  // ...which writes them before we exit
  }
  if (history) {
    history->stop();  // finished games still queued; a record it cannot write stays in its room
  }
  log::info("stopped");
  return 0;
}

}  // namespace partyd
