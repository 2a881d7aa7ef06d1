// persistence_bench: how fast the snapshot writer empties a burst of dirty rooms into a store.
// Creates N relay rooms in an in-process engine while the writer is paused (every new room is
// dirty and important), then starts the writer and times until every snapshot is in the store.
// The keys stay in the store, so tools/bench-persistence.sh can time a partyd restart over them.
//
//   persistence_bench --store redis://127.0.0.1:6390 --rooms 100000 [--players 8]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include <boost/json.hpp>

#include "engine/log.hpp"
#include "engine/metrics.hpp"
#include "engine/runtime.hpp"
#include "games/registry.hpp"
#include "storage/snapshot_store.hpp"
#include "storage/snapshot_writer.hpp"

namespace {

std::uint64_t counter_value(const std::string& metrics, const std::string& name) {
  const auto at = metrics.find("\n" + name + " ");
  if (at == std::string::npos) return 0;
  return std::stoull(metrics.substr(at + name.size() + 2));
}

}  // namespace

int main(int argc, char** argv) {
  std::string setting = "redis://127.0.0.1:6379";
  std::string prefix = "partyd:room:";
  std::size_t rooms = 100000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--store"))
      setting = argv[i + 1];
    else if (!std::strcmp(argv[i], "--rooms"))
      rooms = std::stoul(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--prefix"))
      prefix = argv[i + 1];
  }
  partyd::log::set_level(partyd::log::level::warn);  // no line per created room
  std::string error;
  auto store = partyd::make_snapshot_store(setting, prefix, error);
  if (!store) {
    std::fprintf(stderr, "persistence_bench: %s\n", error.empty() ? "no store" : error.c_str());
    return 2;
  }
  partyd::metrics_registry metrics;
  partyd::runtime_options options;
  options.max_rooms = rooms + 1;
  options.room_code_length = 8;
  partyd::runtime engine(options, metrics);
  for (const auto& game : partyd::game_factories()) {
    engine.add_module(game->make());
  }
  partyd::snapshot_writer writer(std::move(store), metrics);
  engine.set_snapshot_sink(&writer);
  engine.start();

  const auto* relay = engine.module_by_name("relay");
  const boost::json::object room_options{{"password", "pw"}, {"maxPlayers", 8}};
  for (std::size_t i = 0; i < rooms; ++i) {
    auto outcome = engine.create_room(*relay, room_options);
    if (outcome.error) {
      std::fprintf(stderr, "create failed: %s\n", outcome.error.message.c_str());
      return 1;
    }
  }
  // Wait until every room's first snapshot has been handed to the (not yet running) writer.
  while (metrics.get_gauge("partyd_inbox_depth", "", "").value() > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));

  const auto started = std::chrono::steady_clock::now();
  writer.start();
  for (;;) {
    const std::string text = metrics.render();
    if (counter_value(text, "partyd_snapshots_written_total") >= rooms) break;
    if (std::chrono::steady_clock::now() - started > std::chrono::seconds(120)) {
      std::fprintf(stderr, "timed out; store failures: %llu\n",
                   static_cast<unsigned long long>(
                       counter_value(text, "partyd_snapshot_store_failures_total")));
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const std::string text = metrics.render();
  std::printf(
      "{\"bench\":\"snapshot_flush\",\"store\":\"%s\",\"rooms\":%zu,\"seconds\":%.3f,"
      "\"snapshots_per_s\":%.0f,\"batches\":%llu,\"failures\":%llu}\n",
      writer.describe().c_str(), rooms, seconds, static_cast<double>(rooms) / seconds,
      static_cast<unsigned long long>(counter_value(text, "partyd_snapshot_batches_total")),
      static_cast<unsigned long long>(counter_value(text, "partyd_snapshot_store_failures_total")));
  engine.stop();
  writer.stop();
  return 0;
}
