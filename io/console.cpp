#include "io/console.hpp"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>

#include "io/console_files.hpp"
#include "storage/snapshot_writer.hpp"

namespace partyd {

namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

// `game="relay",role="host"` -> the value of `key`.
std::string label_value(std::string_view labels, std::string_view key) {
  const std::string needle = std::string(key) + "=\"";
  const std::size_t at = labels.find(needle);
  if (at == std::string_view::npos) return {};
  const std::size_t begin = at + needle.size();
  const std::size_t end = labels.find('"', begin);
  return std::string(labels.substr(begin, end == std::string_view::npos ? end : end - begin));
}

std::int64_t total(const metrics_registry& m, const std::string& name) {
  std::int64_t sum = 0;
  for (const auto& [labels, value] : m.read(name)) sum += value;
  return sum;
}

// The q-quantile of bucketed observations, in ms, interpolated inside its bucket as Prometheus'
// histogram_quantile does; 0 without observations.
double quantile_ms(const metrics_registry::histogram_totals& h, double q) {
  if (h.count == 0) return 0;
  const double rank = q * static_cast<double>(h.count);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < h.buckets.size(); ++i) {
    const std::uint64_t in_bucket = h.buckets[i];
    if (in_bucket != 0 && static_cast<double>(seen + in_bucket) >= rank) {
      const double lower = i == 0 ? 0.0 : static_cast<double>(histogram::bounds_us[i - 1]);
      if (i == histogram::bounds_us.size()) return lower / 1000.0;  // +Inf: its lower bound
      const double upper = static_cast<double>(histogram::bounds_us[i]);
      const double within = (rank - static_cast<double>(seen)) / static_cast<double>(in_bucket);
      return (lower + (upper - lower) * within) / 1000.0;
    }
    seen += in_bucket;
  }
  return 0;
}

// --console-dir files: a plain relative path of the console's own characters, never "..".
bool safe_relative_path(std::string_view path) {
  if (path.empty() || path.front() == '/' || path.find("..") != std::string_view::npos) {
    return false;
  }
  return std::all_of(path.begin(), path.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || c == '/';
  });
}

std::string_view content_type_of(std::string_view path) {
  if (path.ends_with(".html")) return "text/html; charset=utf-8";
  if (path.ends_with(".js") || path.ends_with(".mjs")) return "text/javascript; charset=utf-8";
  if (path.ends_with(".css")) return "text/css; charset=utf-8";
  if (path.ends_with(".svg")) return "image/svg+xml";
  if (path.ends_with(".png")) return "image/png";
  if (path.ends_with(".json")) return "application/json";
  return "text/plain; charset=utf-8";
}

}  // namespace

std::optional<http::response<http::string_body>> console_file(
    const http::request<http::string_body>& request, const std::string& dir) {
  const std::string_view target = request.target();
  std::string_view path = target.substr(0, target.find('?'));
  if (path == "/") {
    path = "index.html";
  } else if (path.starts_with("/console/")) {
    path.remove_prefix(std::string_view("/console/").size());
  } else {
    return std::nullopt;
  }
  std::string from_disk;
  std::optional<embedded_file> found;
  for (const embedded_file& file : console_files()) {
    if (file.path == path) found = file;
  }
  if (!dir.empty() && safe_relative_path(path)) {
    std::ifstream in(dir + "/" + std::string(path), std::ios::binary);
    if (in) {
      from_disk.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      found = embedded_file{path, from_disk};
    }
  }
  if (found) {
    const embedded_file& file = *found;
    http::response<http::string_body> res{http::status::ok, request.version()};
    res.set(http::field::server, "partyd");
    res.set(http::field::content_type, content_type_of(path));
    res.set("Content-Security-Policy", kConsoleCsp);
    res.set(http::field::x_frame_options, "DENY");
    res.set("X-Content-Type-Options", "nosniff");
    res.set("Referrer-Policy", "no-referrer");
    res.set("Cross-Origin-Opener-Policy", "same-origin");
    res.set(http::field::cache_control, "no-cache");
    res.keep_alive(request.keep_alive());
    if (request.method() != http::verb::head) res.body() = std::string(file.bytes);
    res.prepare_payload();
    return res;
  }
  return std::nullopt;
}

json::object stats_json(server_context& ctx, metrics_registry::histogram_totals* since) {
  const metrics_registry& m = ctx.metrics;
  json::object rooms;
  for (const game_module* module : ctx.engine.modules()) rooms[module->name()] = 0;
  for (const auto& [labels, value] : m.read("partyd_rooms")) {
    const std::string game = label_value(labels, "game");
    if (!game.empty()) rooms[game] = value;
  }
  json::object connections;
  for (const game_module* module : ctx.engine.modules()) {
    json::object roles;
    for (const std::string_view role : module->role_names()) roles[role] = 0;
    connections[module->name()] = std::move(roles);
  }
  for (const auto& [labels, value] : m.read("partyd_connections")) {
    const std::string game = label_value(labels, "game");
    const std::string role = label_value(labels, "role");
    if (game.empty() || role.empty()) continue;
    json::value& roles = connections[game];
    if (!roles.is_object()) roles = json::object{};
    roles.as_object()[role] = value;
  }
  metrics_registry::histogram_totals steps = m.read_histogram("partyd_step_latency_seconds");
  metrics_registry::histogram_totals window = steps;
  if (since) {
    for (std::size_t i = 0; i < window.buckets.size(); ++i) {
      window.buckets[i] -= std::min(window.buckets[i], since->buckets[i]);
    }
    window.count -= std::min(window.count, since->count);
    *since = steps;
  }
  json::object store;
  if (ctx.writer) {
    store["target"] = ctx.writer->describe();
    store["status"] = ctx.writer->degraded() ? "degraded" : "ok";
    const std::int64_t last = ctx.writer->last_write_ms();
    store["lastWriteAgoMs"] = last == 0 ? json::value(nullptr) : json::value(steady_ms() - last);
  } else {
    store["target"] = "memory";
    store["status"] = "not_persisted";
    store["lastWriteAgoMs"] = nullptr;
  }
  store["pendingSnapshots"] = total(m, "partyd_snapshot_pending");
  const auto now = std::chrono::system_clock::now();
  return json::object{
      {"time",
       std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count()},
      {"uptimeSeconds", std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::steady_clock::now() - ctx.started)
                            .count()},
      {"rooms", std::move(rooms)},
      {"connections", std::move(connections)},
      {"connectionsOpen", ctx.ws_connections.load()},
      {"messagesIn", total(m, "partyd_messages_in_total")},
      {"messagesOut", total(m, "partyd_messages_out_total")},
      {"stepLatencyMs", {{"p50", quantile_ms(window, 0.5)}, {"p99", quantile_ms(window, 0.99)}}},
      {"inboxRejected", total(m, "partyd_inbox_rejected_total")},
      {"slowConsumers", total(m, "partyd_slow_consumer_disconnects_total")},
      {"rateLimited", total(m, "partyd_rate_limited_total")},
      {"store", std::move(store)}};
}

json::object games_json(const server_context& ctx) {
  json::array games;
  for (const game_module* module : ctx.engine.modules()) {
    json::array roles;
    for (const std::string_view role : module->role_names()) roles.emplace_back(role);
    games.push_back(json::object{{"name", module->name()},
                                 {"wsPath", module->ws_path()},
                                 {"roles", std::move(roles)},
                                 {"socketio", module->socketio() != socketio_shape::none}});
  }
  return json::object{{"games", std::move(games)}};
}

}  // namespace partyd
