#include "io/http_api.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <mutex>

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/json.hpp>

#include "engine/log.hpp"
#include "engine/secrets.hpp"
#include "io/console.hpp"
#include "io/exact_allocator.hpp"
#include "io/socketio_codec.hpp"
#include "io/ws_codec.hpp"
#include "io/ws_session.hpp"
#include "storage/history_writer.hpp"
#include "storage/snapshot_writer.hpp"

namespace partyd {

namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
namespace net = boost::asio;

namespace {

http_response make_response(const http_request& request, http::status status, std::string body,
                            std::string_view content_type = "application/json") {
  http_response res{status, request.version()};
  res.set(http::field::server, "partyd");
  res.set(http::field::content_type, content_type);
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(request.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

http_response json_response(const http_request& request, http::status status,
                            const json::value& body) {
  return make_response(request, status, json::serialize(body));
}

http_response error_response(const http_request& request, http::status status,
                             std::string_view code, std::string_view message) {
  return json_response(request, status, json::object{{"error", code}, {"message", message}});
}

bool valid_admin_room_code(const json::value& code) {
  if (!code.is_string() || code.get_string().size() < 4 || code.get_string().size() > 16) {
    return false;
  }
  return std::all_of(code.get_string().begin(), code.get_string().end(),
                     [](char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); });
}

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

// --allowed-origins: an upgrade without an Origin header is not from a browser and is let
// through (the check defends browsers against cross-site WebSocket hijacking; other clients can
// send any Origin they like). With no list configured every origin is allowed.
bool origin_allowed(const http_request& request, const server_context& ctx) {
  const auto& allowed = ctx.config.allowed_origins;
  const auto found = request.find(http::field::origin);
  if (allowed.empty() || found == request.end()) {
    return true;
  }
  const std::string_view origin = found->value();
  return std::find(allowed.begin(), allowed.end(), origin) != allowed.end();
}

// The upgrade's credentials (io/auth.hpp) checked against the configured key at the current time.
// `token_may_follow`: a Socket.IO handshake, whose CONNECT may still bring the token.
auth_outcome authenticate_upgrade(const http_request& request, const game_module& module,
                                  const server_context& ctx, bool token_may_follow = false) {
  std::string cookies;
  const auto [first, last] = request.equal_range(http::field::cookie);
  for (auto it = first; it != last; ++it) {
    if (!cookies.empty()) {
      cookies += "; ";
    }
    cookies += it->value();
  }
  const upgrade_credentials credentials{cookies, request[http::field::authorization],
                                        request.target()};
  const std::int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
  const bool required = ctx.auth.required_for(module.name(), module.requires_auth());
  auth_outcome outcome = ctx.auth.authenticate(credentials, required, now_s);
  const bool nothing_given =
      outcome.refusal == auth_refusal::missing_token ||
      (outcome.refusal == auth_refusal::invalid_name && !query_parameter(request.target(), "name"));
  if (token_may_follow && !outcome && nothing_given) {
    // Socket.IO: the CONNECT packet's auth may still bring the token.
    outcome = ctx.auth.authenticate(credentials, false, now_s);
  }
  return outcome;
}

bool authorized(const http_request& request, server_context& ctx) {
  const auto header = request[http::field::authorization];
  constexpr std::string_view scheme = "Bearer ";
  if (header.size() <= scheme.size() || header.substr(0, scheme.size()) != scheme) {
    return false;
  }
  const std::string_view token(header.data() + scheme.size(), header.size() - scheme.size());
  return secrets_equal(token, ctx.config.admin_token);
}

json::object listing_json(const room_listing& item, const game_module* module) {
  json::object connections;
  if (module) {
    const auto roles = module->role_names();
    for (std::size_t i = 0; i < roles.size(); ++i) {
      connections[roles[i]] = item.summary.connected_by_role[i];
    }
  }
  return json::object{{"roomCode", item.code},
                      {"game", item.game},
                      {"createdAt", item.created_at},
                      {"lastActivity", item.last_activity},
                      {"stateVersion", item.state_version},
                      {"seats", item.summary.seats},
                      {"connections", std::move(connections)}};
}

// /api/rooms/{code}/inspect, /snapshot (GET) and /connections/{id} (DELETE): answered by the
// room's worker (runtime::ask_room), later, through `respond`.
std::optional<http_response> handle_room_question(const http_request& request, server_context& ctx,
                                                  std::string_view rest,
                                                  const http_responder& respond) {
  const std::size_t slash = rest.find('/');
  const std::string code(rest.substr(0, slash));
  const std::string_view what = rest.substr(slash + 1);
  admin_request question = admin_request::none;
  connection_id conn = 0;
  http::verb method = http::verb::get;
  if (what == "inspect") {
    question = admin_request::inspect;
  } else if (what == "snapshot") {
    question = admin_request::snapshot;
  } else if (what.starts_with("connections/")) {
    question = admin_request::disconnect;
    method = http::verb::delete_;
    const std::string_view digits = what.substr(std::string_view("connections/").size());
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), conn);
    if (ec != std::errc() || end != digits.data() + digits.size() || conn == 0) {
      return error_response(request, http::status::bad_request, "bad_request",
                            "a connection id is a positive integer");
    }
  } else {
    return error_response(request, http::status::not_found, "not_found", "no such endpoint");
  }
  if (request.method() != method) {
    return error_response(request, http::status::method_not_allowed, "method_not_allowed",
                          "see docs/operations.md for the admin API");
  }
  const unsigned version = request.version();
  const bool keep_alive = request.keep_alive();
  auto answered = [respond, version, keep_alive, question, code,
                   conn](std::optional<std::string> text) {
    http_request shape;
    shape.version(version);
    shape.keep_alive(keep_alive);
    if (!text) {
      respond(error_response(shape, http::status::not_found, "room_not_found",
                             "no room with this code"));
    } else if (question == admin_request::disconnect) {
      if (*text != "true") {
        respond(error_response(shape, http::status::not_found, "connection_not_found",
                               "no open connection with this id in the room"));
      } else {
        respond(json_response(shape, http::status::ok,
                              json::object{{"roomCode", code}, {"conn", conn}, {"closed", true}}));
      }
    } else {
      http_response res = make_response(shape, http::status::ok, std::move(*text));
      if (question == admin_request::snapshot) {
        res.set(http::field::content_disposition,
                "attachment; filename=\"" + code + "-snapshot.json\"");
      }
      respond(std::move(res));
    }
  };
  if (!ctx.engine.ask_room(code, question, conn, std::move(answered))) {
    return error_response(request, http::status::not_found, "room_not_found",
                          "no room with this code");
  }
  if (question == admin_request::disconnect) {
    log::info("connection_close_requested", {{"room", code}, {"conn", conn}, {"by", "admin"}});
  }
  return std::nullopt;
}

std::optional<http_response> handle_admin(const http_request& request, server_context& ctx,
                                          std::string_view path, const http_responder& respond) {
  if (ctx.config.admin_token.empty()) {
    return error_response(request, http::status::forbidden, "admin_disabled",
                          "the admin API is disabled: start partyd with --admin-token");
  }
  if (!authorized(request, ctx)) {
    ctx.io.auth_failures.inc();
    // The token itself is never logged; a guessing loop gets a bounded number of lines.
    ctx.logs.auth_failed.write(steady_ms(),
                               {{"path", path}, {"method", std::string(request.method_string())}});
    http_response res = error_response(request, http::status::unauthorized, "unauthorized",
                                       "missing or wrong bearer token");
    res.set(http::field::www_authenticate, "Bearer");
    return res;
  }
  if (path == "/api/stats" && request.method() == http::verb::get) {
    return json_response(request, http::status::ok, stats_json(ctx, nullptr));
  }
  if (path == "/api/games" && request.method() == http::verb::get) {
    return json_response(request, http::status::ok, games_json(ctx));
  }
  if (path == "/api/rooms" && request.method() == http::verb::post) {
    json::object options;
    if (!request.body().empty()) {
      boost::system::error_code ec;
      json::value parsed = json::parse(request.body(), ec);
      if (ec || !parsed.is_object()) {
        return error_response(request, http::status::bad_request, "bad_request",
                              "body must be a JSON object");
      }
      options = std::move(parsed.as_object());
    }
    // Without a "game", the first registered game (games/registry.cpp).
    const auto registered = ctx.engine.modules();
    std::string game_name =
        registered.empty() ? std::string() : std::string(registered.front()->name());
    if (auto* game = options.if_contains("game")) {
      if (!game->is_string()) {
        return error_response(request, http::status::bad_request, "bad_request",
                              "game must be a string");
      }
      game_name = std::string(game->as_string());
      options.erase("game");
    }
    const game_module* module = ctx.engine.module_by_name(game_name);
    if (!module) {
      return error_response(request, http::status::bad_request, "unknown_game",
                            "no game named '" + game_name + "'");
    }
    if (ctx.phase.load() != server_phase::ready) {
      return error_response(request, http::status::service_unavailable, "not_ready",
                            "the server is starting or shutting down");
    }
    // The 201 goes out once the new room is in the store (or the wait timed out): a client must
    // never hold a room code that a crash right after the answer would lose.
    // The answer is sent by whichever comes second: the room being durable (another thread) or
    // this thread having built the reply.
    // "durable" in the 201 says whether the room's first snapshot is in the store: false while
    // the store is degraded (nothing waits then), after the wait timed out, or without a store.
    struct pending_answer {
      std::mutex mutex;
      std::optional<http_response> reply;  // its body is set by finish()
      json::object body;
      std::shared_ptr<room> created;
      bool durable = false;
    };
    const auto finish = [](pending_answer& p) {
      p.body["durable"] = p.created->durable_version() > 0;
      p.reply->body() = json::serialize(p.body);
      p.reply->prepare_payload();
      return std::move(*p.reply);
    };
    auto pending = std::make_shared<pending_answer>();
    auto on_durable = [pending, respond, finish] {
      std::lock_guard lock(pending->mutex);
      pending->durable = true;
      if (pending->reply) respond(finish(*pending));
    };
    // Admin rooms pass none of the anonymous limits (io/client_limits.hpp): only --max-rooms.
    room_creation_limits limits;
    limits.initial_state_bytes = request.body().size();
    // `roomCode`: a code of the admin's choosing (e.g. a printed one, or a seed's TEST123).
    std::string fixed_code;
    if (const json::value* code = options.if_contains("roomCode")) {
      if (!valid_admin_room_code(*code)) {
        return error_response(request, http::status::bad_request, "bad_request",
                              "roomCode must be 4 to 16 characters A-Z and 0-9");
      }
      fixed_code = std::string(code->get_string());
      options.erase("roomCode");
    }
    auto outcome =
        ctx.engine.create_room(*module, options, on_durable, std::move(limits), fixed_code);
    if (outcome.error) {
      const bool full = outcome.error.code == "limit_reached";
      if (full) {
        ctx.creations->count(creation_refusal::max_rooms);
      }
      const auto status = full                                  ? http::status::service_unavailable
                          : outcome.error.code == "room_exists" ? http::status::conflict
                                                                : http::status::bad_request;
      return error_response(request, status, outcome.error.code, outcome.error.message);
    }
    std::lock_guard lock(pending->mutex);
    pending->reply = make_response(request, http::status::created, {});
    pending->body = std::move(outcome.reply);
    pending->created = outcome.created;
    if (pending->durable) {
      return finish(*pending);
    }
    return std::nullopt;
  }
  if (path == "/api/rooms" && request.method() == http::verb::get) {
    auto rooms = ctx.engine.list_rooms();
    std::sort(rooms.begin(), rooms.end(),
              [](const room_listing& a, const room_listing& b) { return a.code < b.code; });
    json::array list;
    list.reserve(rooms.size());
    for (const auto& item : rooms) {
      list.push_back(listing_json(item, ctx.engine.module_by_name(item.game)));
    }
    return json_response(request, http::status::ok,
                         json::object{{"rooms", std::move(list)}, {"count", rooms.size()}});
  }
  constexpr std::string_view room_prefix = "/api/rooms/";
  if (path.starts_with(room_prefix) &&
      path.find('/', room_prefix.size()) != std::string_view::npos) {
    return handle_room_question(request, ctx, path.substr(room_prefix.size()), respond);
  }
  if (path.substr(0, room_prefix.size()) == room_prefix && path.size() > room_prefix.size()) {
    const std::string code(path.substr(room_prefix.size()));
    if (request.method() == http::verb::delete_) {
      if (!ctx.engine.close_room(code)) {
        return error_response(request, http::status::not_found, "room_not_found",
                              "no room with this code");
      }
      log::info("room_close_requested", {{"room", code}, {"by", "admin"}});
      return json_response(request, http::status::ok,
                           json::object{{"roomCode", code}, {"closed", true}});
    }
    if (request.method() == http::verb::get) {
      auto target = ctx.engine.find(code);
      if (!target) {
        return error_response(request, http::status::not_found, "room_not_found",
                              "no room with this code");
      }
      room_listing item{target->code(),          std::string(target->module().name()),
                        target->created_at(),    target->last_activity(),
                        target->state_version(), target->summary()};
      return json_response(request, http::status::ok, listing_json(item, &target->module()));
    }
  }
  if (path == "/api/quarantine" && request.method() == http::verb::get) {
    if (!ctx.writer) {
      return json_response(
          request, http::status::ok,
          json::object{{"rooms", json::array{}}, {"count", 0}, {"store", "memory"}});
    }
    // The store belongs to the writer thread: it reads, and answers from there.
    ctx.writer->list_quarantined([request, respond, store = ctx.writer->describe()](
                                     store_result result, std::vector<quarantined_room> rooms) {
      if (!result.ok) {
        respond(error_response(request, http::status::service_unavailable, "store_unavailable",
                               result.error));
        return;
      }
      json::array list;
      for (const quarantined_room& item : rooms) {
        list.push_back(json::object{{"roomCode", item.code},
                                    {"game", item.game},
                                    {"stateVersion", item.version},
                                    {"createdAt", item.created_at},
                                    {"lastActivity", item.last_activity},
                                    {"bytes", item.bytes}});
      }
      const std::size_t count = list.size();
      respond(json_response(
          request, http::status::ok,
          json::object{{"rooms", std::move(list)}, {"count", count}, {"store", store}}));
    });
    return std::nullopt;
  }
  if (path == "/api/history/games" && request.method() == http::verb::get) {
    if (!ctx.history) {
      return json_response(request, http::status::ok,
                           json::object{{"games", json::array{}}, {"history", "none"}});
    }
    std::size_t limit = 20;
    const std::string_view target = request.target();
    if (const auto at = target.find("limit="); at != std::string_view::npos) {
      limit = 0;
      for (std::size_t i = at + 6; i < target.size() && target[i] >= '0' && target[i] <= '9'; ++i) {
        limit = std::min<std::size_t>(limit * 10 + static_cast<std::size_t>(target[i] - '0'), 1000);
      }
      if (limit == 0 || limit > 100) {
        return error_response(request, http::status::bad_request, "bad_request",
                              "limit: from 1 to 100");
      }
    }
    // A short read on the history's own read connection (bounded by its statement timeout).
    try {
      json::array list;
      for (const history_game_summary& g : ctx.history->recent_games(limit)) {
        json::array roles;
        for (const auto& r : g.roles) {
          roles.push_back(
              json::object{{"userId", r.user_id}, {"username", r.username}, {"role", r.role}});
        }
        list.push_back(json::object{{"gameId", g.game_id},
                                    {"roomCode", g.room_code},
                                    {"winner", g.winner},
                                    {"totalRounds", g.total_rounds},
                                    {"startedAt", g.started_at_ms},
                                    {"endedAt", g.ended_at_ms},
                                    {"roles", std::move(roles)}});
      }
      return json_response(
          request, http::status::ok,
          json::object{{"games", std::move(list)}, {"history", ctx.history->status().target}});
    } catch (const std::exception& error) {
      return error_response(request, http::status::service_unavailable, "history_unavailable",
                            error.what());
    }
  }
  if (path == "/api/quarantine") {
    return error_response(request, http::status::method_not_allowed, "method_not_allowed",
                          "see docs/operations.md for the admin API");
  }
  if (path == "/api/rooms" || path.substr(0, room_prefix.size()) == room_prefix) {
    return error_response(request, http::status::method_not_allowed, "method_not_allowed",
                          "see docs/operations.md for the admin API");
  }
  return error_response(request, http::status::not_found, "not_found", "no such endpoint");
}

}  // namespace

std::optional<http_response> handle_http(const http_request& request, server_context& ctx,
                                         const http_responder& respond) {
  ctx.io.http_requests.inc();
  const std::string_view path = path_of(request.target());
  const auto phase = ctx.phase.load();
  if (path == "/health" && request.method() == http::verb::get) {
    const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::steady_clock::now() - ctx.started)
                            .count();
    return json_response(
        request, http::status::ok,
        json::object{{"status", phase == server_phase::stopping ? "stopping" : "ok"},
                     {"uptimeSeconds", uptime},
                     {"rooms", ctx.engine.room_count()},
                     {"connections", ctx.ws_connections.load()},
                     {"auth", auth_mode_name(ctx.auth.mode())}});
  }
  if (path == "/ready" && request.method() == http::verb::get) {
    if (phase == server_phase::ready) {
      // A degraded store does not stop the games: still 200, but visible.
      json::object body{{"ready", true}};
      if (ctx.writer) {
        body["store"] = ctx.writer->describe();
        body["storeStatus"] = ctx.writer->degraded() ? "degraded" : "ok";
      } else {
        body["store"] = "memory";
        body["storeStatus"] = "not_persisted";
      }
      // The history database, like the store, is reported but does not stop the games: finished
      // games wait in their rooms (and the writer's queue) until it is back.
      if (ctx.history) {
        const history_status h = ctx.history->status();
        body["history"] = h.target;
        body["historyStatus"] = to_string(h.health);
        body["historyQueue"] = h.queue_depth;
        if (!h.last_error.empty()) body["historyLastError"] = h.last_error;
      } else {
        body["history"] = "none";
        body["historyStatus"] = "not_kept";
      }
      return json_response(request, http::status::ok, body);
    }
    // Starting: the boot load has not read the whole store yet (store_unreachable: it failed).
    std::string_view reason = "shutting_down";
    if (phase == server_phase::starting) {
      reason = ctx.writer && ctx.writer->degraded() ? "store_unreachable" : "starting";
    }
    return json_response(request, http::status::service_unavailable,
                         json::object{{"ready", false}, {"reason", reason}});
  }
  if (path == "/metrics" && request.method() == http::verb::get) {
    const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::steady_clock::now() - ctx.started)
                            .count();
    ctx.metrics.get_gauge("partyd_uptime_seconds", "", "Seconds since start").set(uptime);
    return make_response(request, http::status::ok, ctx.metrics.render(),
                         "text/plain; version=0.0.4");
  }
  if (path.substr(0, 4) == "/api") {
    return handle_admin(request, ctx, path, respond);
  }
  if (request.method() == http::verb::get || request.method() == http::verb::head) {
    if (auto file = console_file(request, ctx.config.console_dir)) {
      return file;
    }
  }
  return error_response(request, http::status::not_found, "not_found", "no such endpoint");
}

http_session::http_session(server_context& ctx, io_thread& thread,
                           boost::asio::ip::tcp::socket&& socket, socket_slot slot)
    : ctx_(ctx), thread_(thread), socket_(std::move(socket)), slot_(std::move(slot)) {}

void http_session::start() {
  thread_.http_sessions.emplace(this, weak_from_this());
  do_read();
}

namespace {

// Near --max-sockets (within a tenth of it), connections that have not sent a whole request get
// this long instead of --http-timeout-ms.
constexpr std::int64_t kPressureRequestMs = 1000;

bool near_socket_limit(const server_context& ctx) {
  return ctx.sockets.load(std::memory_order_relaxed) + ctx.max_sockets / 10 >= ctx.max_sockets;
}

}  // namespace

void http_session::sweep(std::int64_t now_ms) {
  if (now_ms >= deadline_ms_) {
    close();  // cancels the pending wait, read or write
    return;
  }
  if (awaiting_request_ && now_ms - waiting_since_ms_ >= kPressureRequestMs &&
      near_socket_limit(ctx_)) {
    ctx_.io.http_pressure_closes.inc();
    close();
  }
}

void http_session::do_read() {
  waiting_since_ms_ = steady_ms();
  deadline_ms_ = waiting_since_ms_ + ctx_.config.http_timeout_ms;
  awaiting_request_ = true;
  if (buffer_.size() > 0) {
    // Pipelined: the next request (or its start) was read together with the last one.
    read_request();
    return;
  }
  // Wait for the request's first bytes before the parser, its buffer and Beast's read operation
  // exist: until then a connection costs only this exactly sized wait.
  socket_.async_wait(net::socket_base::wait_read,
                     net::bind_allocator(exact_allocator<void>(),
                                         [self = shared_from_this()](beast::error_code ec) {
                                           if (ec) {
                                             self->close();
                                             return;
                                           }
                                           self->read_request();
                                         }));
}

void http_session::read_request() {
  parser_.emplace();
  parser_->header_limit(16 * 1024);
  // Socket.IO polling bodies may be larger than admin bodies; on_read checks the latter.
  parser_->body_limit(
      std::max(ctx_.config.http_body_max_bytes, ctx_.config.socketio_max_payload_bytes));
  http::async_read(socket_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code ec, std::size_t bytes) {
                     self->on_read(ec, bytes);
                   });
}

void http_session::on_read(beast::error_code ec, std::size_t) {
  if (ec) {
    if (ec == http::error::body_limit || ec == http::error::header_limit) {
      const std::string target(parser_->get().target());
      if (ec == http::error::body_limit && path_of(target) == kSocketioPath) {
        // Engine.IO: a payload over maxPayload ends the session.
        ctx_.io.socketio_error("payload_too_large").inc();
        if (const auto sid = query_parameter(target, "sid")) {
          if (const auto found = ctx_.engineio.find(*sid)) {
            net::post(found->home->context, [weak = found->session] {
              if (const auto session = weak.lock()) session->close_too_large();
            });
          }
        }
      }
      http_request dummy;
      response_ = std::make_shared<http_response>(
          error_response(dummy, http::status::payload_too_large, "too_large", "request too large"));
      response_->keep_alive(false);
      http::async_write(socket_, *response_,
                        [self = shared_from_this()](beast::error_code e, std::size_t n) {
                          self->on_write(false, e, n);
                        });
      return;
    }
    close();
    return;
  }
  awaiting_request_ = false;
  http_request request = parser_->release();
  if (path_of(request.target()) == kSocketioPath) {
    handle_socketio(std::move(request));
    return;
  }
  if (path_of(request.target()) == "/api/stats/stream" && request.method() == http::verb::get &&
      !ctx_.config.admin_token.empty() && authorized(request, ctx_)) {
    start_stats_stream(request);
    return;
  }
  if (request.body().size() > ctx_.config.http_body_max_bytes) {
    response_ = std::make_shared<http_response>(
        error_response(request, http::status::payload_too_large, "too_large", "request too large"));
    response_->keep_alive(false);
    write_response();
    return;
  }
  if (beast::websocket::is_upgrade(request)) {
    const std::string_view path = path_of(request.target());
    const game_module* module = ctx_.engine.module_by_path(path);
    if (!module && path == "/" && !ctx_.config.default_game.empty()) {
      module = ctx_.engine.module_by_name(ctx_.config.default_game);
    }
    auth_outcome auth;
    std::optional<http_response> refusal;
    if (!module) {
      refusal = error_response(request, http::status::not_found, "not_found",
                               "no game is served at this path");
    } else {
      refusal = refuse_upgrade(request, *module, auth, false);
    }
    if (!refusal) {
      accept_upgrade(request[http::field::sec_websocket_key], *module, std::move(auth.identity),
                     false);
      return;
    }
    refusal->keep_alive(false);
    response_ = std::make_shared<http_response>(std::move(*refusal));
  } else {
    auto self = shared_from_this();
    auto answer = handle_http(request, ctx_, [self](http_response later) {
      // From another thread: the session's socket belongs to its io thread.
      net::post(self->socket_.get_executor(), [self, later = std::move(later)]() mutable {
        self->write_response(std::move(later));
      });
    });
    if (!answer) {
      return;  // answered later through the responder
    }
    response_ = std::make_shared<http_response>(std::move(*answer));
  }
  write_response();
}

std::optional<http_response> http_session::refuse_upgrade(const http_request& request,
                                                          const game_module& module,
                                                          auth_outcome& auth,
                                                          bool token_may_follow) {
  const std::string_view key = request[http::field::sec_websocket_key];
  if (ctx_.phase.load() != server_phase::ready) {
    return error_response(request, http::status::service_unavailable, "not_ready",
                          "the server is starting or shutting down");
  }
  if (beast::websocket::is_upgrade(request)) {
    if (request[http::field::sec_websocket_version] != "13") {
      http_response refusal =
          error_response(request, http::status::upgrade_required, "unsupported_websocket_version",
                         "only WebSocket version 13 is supported");
      refusal.set(http::field::sec_websocket_version, "13");
      return refusal;
    }
    if (!ws::valid_client_key(key)) {
      return error_response(request, http::status::bad_request, "bad_websocket_key",
                            "Sec-WebSocket-Key must be the base64 of 16 bytes");
    }
  }
  if (!origin_allowed(request, ctx_)) {
    ctx_.io.ws_origin_rejected.inc();
    const std::string_view origin = request[http::field::origin];
    ctx_.logs.connection_refused.write(steady_ms(), {{"reason", "origin_not_allowed"},
                                                     {"game", module.name()},
                                                     {"origin", origin.substr(0, 200)}});
    return error_response(request, http::status::forbidden, "origin_not_allowed",
                          "this Origin may not open WebSockets here");
  }
  if (auth = authenticate_upgrade(request, module, ctx_, token_may_follow); !auth) {
    // Before any connection slot is taken: a refused client costs nothing but this answer.
    ctx_.io.ws_auth_refused[static_cast<std::size_t>(auth.refusal)]->inc();
    const std::string_view code = auth_refusal_code(auth.refusal);
    beast::error_code peer_ec;
    const auto peer = socket_.remote_endpoint(peer_ec);
    ctx_.logs.connection_refused.write(
        steady_ms(), {{"reason", code},
                      {"game", module.name()},
                      {"source", token_source_name(auth.source)},
                      {"remote", peer_ec ? std::string() : peer.address().to_string()}});
    http_response refusal = error_response(request, http::status::unauthorized, code,
                                           auth_refusal_message(auth.refusal));
    refusal.set(http::field::www_authenticate, "Bearer");
    return refusal;
  }
  if (ctx_.ws_connections.fetch_add(1) >= ctx_.config.max_connections) {
    ctx_.ws_connections.fetch_sub(1);
    ctx_.io.ws_refused.inc();
    ctx_.logs.connection_refused.write(
        steady_ms(), {{"reason", "max_connections"}, {"limit", ctx_.config.max_connections}});
    return error_response(request, http::status::service_unavailable, "too_many_connections",
                          "the server holds its maximum number of connections");
  }
  return std::nullopt;
}

std::string http_session::switching_protocols(std::string_view key) {
  return "HTTP/1.1 101 Switching Protocols\r\nServer: partyd\r\nUpgrade: websocket\r\n"
         "Connection: Upgrade\r\nSec-WebSocket-Accept: " +
         ws::accept_key(key) + "\r\n\r\n";
}

std::string http_session::early_bytes() const {
  const auto buffered = buffer_.cdata();
  return std::string(static_cast<const char*>(buffered.data()), buffered.size());
}

void http_session::accept_upgrade(std::string_view key, const game_module& module,
                                  std::optional<connection_identity> identity, bool socketio) {
  // The 101 goes out as the connection's first bytes through the session's own write path.
  std::string response = switching_protocols(key);
  thread_.http_sessions.erase(this);  // the socket moves to the ws_session
  std::string early = early_bytes();
  // The session is created once this http_session (its parser, buffer and stream) is freed, so
  // that the long-lived session takes their place in the heap instead of landing above them and
  // leaving a hole per connection after a join storm (measured: ~1.5 KiB of RSS each).
  std::shared_ptr<const connection_identity> who;
  if (identity) {
    who = std::make_shared<const connection_identity>(std::move(*identity));
  }
  net::post(thread_.context, [&ctx = ctx_, &thread = thread_, &module, socket = std::move(socket_),
                              slot = std::move(slot_), response = std::move(response),
                              early = std::move(early), who = std::move(who), socketio]() mutable {
    auto session = std::make_shared<ws_session>(ctx, thread, std::move(socket), module,
                                                std::move(slot), std::move(who));
    if (socketio) {
      session->start_socketio(response, early);
    } else {
      session->start(response, early);
    }
  });
}

void http_session::write_response(http_response response) {
  response_ = std::make_shared<http_response>(std::move(response));
  write_response();
}

void http_session::write_response() {
  deadline_ms_ = steady_ms() + ctx_.config.http_timeout_ms;
  const bool keep_alive = response_->keep_alive();
  http::async_write(socket_, *response_,
                    [self = shared_from_this(), keep_alive](beast::error_code e, std::size_t n) {
                      self->on_write(keep_alive, e, n);
                    });
}

void http_session::on_write(bool keep_alive, beast::error_code ec, std::size_t) {
  response_.reset();
  if (ec || !keep_alive || ctx_.phase.load() == server_phase::stopping) {
    close();
    return;
  }
  do_read();
}

namespace {
// The dashboard's stream: a summary a second, and at most this many streams at once.
constexpr std::chrono::milliseconds kStatsInterval{1000};
constexpr int kMaxStatsStreams = 16;
}  // namespace

struct http_session::stats_stream {
  explicit stats_stream(net::io_context& context) : timer(context) {}
  net::steady_timer timer;
  metrics_registry::histogram_totals steps;  // at the previous event: p50/p99 over the interval
  std::string buffer;
};

http_session::~http_session() {
  if (stream_) ctx_.stats_streams.fetch_sub(1);
}

void http_session::start_stats_stream(const http_request& request) {
  if (ctx_.stats_streams.fetch_add(1) >= kMaxStatsStreams) {
    ctx_.stats_streams.fetch_sub(1);
    write_response(error_response(request, http::status::service_unavailable, "too_many_streams",
                                  "the dashboard streams are all in use"));
    return;
  }
  stream_ = std::make_unique<stats_stream>(thread_.context);
  stats_json(ctx_, &stream_->steps);  // the first event's window starts now
  send_stats(
      "HTTP/1.1 200 OK\r\nServer: partyd\r\nContent-Type: text/event-stream\r\n"
      "Cache-Control: no-store\r\nConnection: close\r\nX-Accel-Buffering: no\r\n\r\n");
}

void http_session::send_stats(std::string prefix) {
  stream_->buffer = std::move(prefix);
  stream_->buffer += "event: stats\ndata: ";
  stream_->buffer += json::serialize(stats_json(ctx_, &stream_->steps));
  stream_->buffer += "\n\n";
  // Each event keeps the connection from the sweep's deadline.
  deadline_ms_ = steady_ms() + ctx_.config.http_timeout_ms;
  net::async_write(
      socket_, net::buffer(stream_->buffer),
      [self = shared_from_this()](beast::error_code ec, std::size_t) {
        if (ec || !self->stream_ || self->ctx_.phase.load() == server_phase::stopping) {
          self->close();
          return;
        }
        self->stream_->timer.expires_after(kStatsInterval);
        self->stream_->timer.async_wait([self](beast::error_code wait_ec) {
          if (wait_ec || !self->stream_) return;
          self->send_stats({});
        });
      });
}

void http_session::close() {
  if (stream_) {
    stream_.reset();
    ctx_.stats_streams.fetch_sub(1);
  }
  beast::error_code ignored;
  socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
  socket_.close(ignored);
  slot_.release();
  thread_.http_sessions.erase(this);
}

}  // namespace partyd

namespace partyd {

// Engine.IO requests (docs/protocol/socketio.md). The session of a `sid` lives on the io thread
// that opened it; requests and upgrades arriving on other threads are handed to it.
void http_session::handle_socketio(http_request request) {
  const std::string target(request.target());
  const auto sid = query_parameter(target, "sid");
  const auto transport = query_parameter(target, "transport");
  const auto error = [&](sio::http_error code, std::string_view reason, std::string_view extra) {
    ctx_.io.socketio_error(reason).inc();
    answer_socketio(request, 400, sio::http_error_body(code, extra));
  };
  if (request.method() == http::verb::options) {
    answer_socketio(request, 204, {});
    return;
  }
  if (query_parameter(target, "EIO").value_or("") != "4") {
    error(sio::http_error::unsupported_protocol_version, "unsupported_protocol_version", {});
    return;
  }
  if (!transport || (*transport != "polling" && *transport != "websocket")) {
    error(sio::http_error::unknown_transport, "unknown_transport", {});
    return;
  }
  const bool upgrade = beast::websocket::is_upgrade(request);
  if ((*transport == "websocket") != upgrade) {
    error(upgrade ? sio::http_error::unknown_transport : sio::http_error::bad_request,
          "transport_mismatch", {});
    return;
  }
  if (!origin_allowed(request, ctx_)) {
    ctx_.io.ws_origin_rejected.inc();
    ctx_.io.socketio_error("forbidden").inc();
    answer_socketio(request, 403, sio::http_error_body(sio::http_error::forbidden));
    return;
  }
  if (sid) {
    const auto found = ctx_.engineio.find(*sid);
    if (!found) {
      error(sio::http_error::unknown_sid, "unknown_sid", {});
      return;
    }
    if (upgrade) {
      // The probing WebSocket of a polling session: the socket moves to the session's thread.
      const std::string_view key = request[http::field::sec_websocket_key];
      if (request[http::field::sec_websocket_version] != "13" || !ws::valid_client_key(key)) {
        error(sio::http_error::bad_request, "bad_upgrade", {});
        return;
      }
      std::string response = switching_protocols(key);
      thread_.http_sessions.erase(this);
      std::string early = early_bytes();
      beast::error_code ec;
      const auto protocol = socket_.local_endpoint(ec).protocol();
      const int fd = socket_.release(ec);
      if (ec) {
        close();
        return;
      }
      net::post(found->home->context,
                [weak = found->session, &home = *found->home, fd, protocol, slot = std::move(slot_),
                 response = std::move(response), early = std::move(early)]() mutable {
                  boost::asio::ip::tcp::socket socket(home.context, protocol, fd);
                  if (const auto session = weak.lock()) {
                    session->attach_probe(std::move(socket), std::move(slot), std::move(response),
                                          std::move(early));
                  }  // else: the socket closes here, the client falls back to polling's error
                });
      return;
    }
    // A held GET may wait up to a ping interval for packets.
    deadline_ms_ = steady_ms() + ctx_.config.socketio_ping_interval_ms +
                   ctx_.config.socketio_ping_timeout_ms + ctx_.config.http_timeout_ms;
    auto self = shared_from_this();
    const unsigned version = request.version();
    const bool keep_alive = request.keep_alive();
    const std::string origin(request[http::field::origin]);
    poll_responder respond = [self, version, keep_alive, origin](int status, std::string body) {
      net::post(self->socket_.get_executor(),
                [self, version, keep_alive, origin, status, body = std::move(body)]() mutable {
                  http_request answered;
                  answered.version(version);
                  answered.keep_alive(keep_alive);
                  if (!origin.empty()) answered.set(http::field::origin, origin);
                  self->answer_socketio(answered, status, std::move(body));
                });
    };
    if (request.method() == http::verb::get) {
      net::post(found->home->context,
                [weak = found->session, respond = std::move(respond)]() mutable {
                  if (const auto session = weak.lock()) {
                    session->poll_get(std::move(respond));
                  } else {
                    respond(400, sio::http_error_body(sio::http_error::unknown_sid));
                  }
                });
    } else if (request.method() == http::verb::post) {
      net::post(found->home->context, [weak = found->session, respond = std::move(respond),
                                       body = std::move(request.body())]() mutable {
        if (const auto session = weak.lock()) {
          session->poll_post(std::move(body), std::move(respond));
        } else {
          respond(400, sio::http_error_body(sio::http_error::unknown_sid));
        }
      });
    } else {
      error(sio::http_error::bad_request, "bad_method", {});
    }
    return;
  }
  // A handshake: a new session of the game the query names.
  const auto game = query_parameter(target, "game");
  const game_module* module = nullptr;
  if (game) {
    module = ctx_.engine.module_by_name(*game);
  } else {
    module = ctx_.engine.module_by_name(ctx_.config.default_game.empty()
                                            ? std::string_view("relay")
                                            : std::string_view(ctx_.config.default_game));
  }
  if (!module || module->socketio() == socketio_shape::none) {
    error(sio::http_error::bad_request, "unknown_game", "unknown_game");
    return;
  }
  if (!upgrade && request.method() != http::verb::get) {
    error(sio::http_error::bad_handshake_method, "bad_handshake_method", {});
    return;
  }
  auth_outcome auth;
  if (std::optional<http_response> refusal = refuse_upgrade(request, *module, auth, true)) {
    refusal->keep_alive(false);
    response_ = std::make_shared<http_response>(std::move(*refusal));
    write_response();
    return;
  }
  if (upgrade) {
    accept_upgrade(request[http::field::sec_websocket_key], *module, std::move(auth.identity),
                   true);
    return;
  }
  std::shared_ptr<const connection_identity> who;
  if (auth.identity) {
    who = std::make_shared<const connection_identity>(std::move(*auth.identity));
  }
  beast::error_code ec;
  const auto peer = socket_.remote_endpoint(ec);
  auto session =
      std::make_shared<ws_session>(ctx_, thread_, boost::asio::ip::tcp::socket(thread_.context),
                                   *module, socket_slot(), std::move(who));
  std::string open = session->start_polling(ec ? boost::asio::ip::address() : peer.address());
  answer_socketio(request, 200, std::move(open));
}

void http_session::answer_socketio(const http_request& request, int status, std::string body) {
  http_response res{static_cast<http::status>(status), request.version()};
  res.set(http::field::server, "partyd");
  res.set(http::field::cache_control, "no-store");
  if (status == 200) {
    res.set(http::field::content_type, "text/plain; charset=UTF-8");
  } else if (!body.empty()) {
    res.set(http::field::content_type, "application/json");
  }
  const std::string_view origin = request[http::field::origin];
  if (!origin.empty() && origin_allowed(request, ctx_)) {
    res.set(http::field::access_control_allow_origin, origin);
    res.set(http::field::access_control_allow_credentials, "true");
    res.set(http::field::vary, "Origin");
  }
  if (status == 204) {
    res.set(http::field::access_control_allow_methods, "GET, POST");
    res.set(http::field::access_control_allow_headers, "content-type");
  }
  res.keep_alive(request.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  write_response(std::move(res));
}

}  // namespace partyd
