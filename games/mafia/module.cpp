#include "games/mafia/module.hpp"

#include <algorithm>
#include <utility>

#include <boost/json/serialize.hpp>

#include "engine/secrets.hpp"
#include "games/common/session_options.hpp"
#include "games/mafia/game.hpp"
#include "games/mafia/matchmaker.hpp"

namespace partyd {

namespace json = boost::json;

namespace {

// --mafia-identity-key is hex; the HMAC key is its bytes. Empty: a random key for this process.
std::string key_bytes(std::string_view hex) {
  if (hex.empty()) return random_token(32);
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

bool is_hex(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  });
}

}  // namespace

void mafia_module::declare_options(option_list& options, mafia_config& config) {
  options.add("mafia-min-players", config.min_players, "players a Mafia game needs to start");
  options.add("mafia-max-players", config.max_players, "largest maxPlayers of a Mafia room");
  options.add("mafia-max-message-bytes", config.max_message_bytes,
              "largest Mafia WebSocket message");
  options.add("mafia-chat-burst", config.chat_burst, "chat:send per player per chat window");
  options.add("mafia-chat-window-ms", config.chat_window_ms, "the chat rate limit's window");
  options.add("mafia-match-min-players", config.match_min_players,
              "players a public match waits for (the seed's 6)");
  options.add("mafia-match-max-players", config.match_max_players,
              "players in one public match (10)");
  options.add("mafia-match-fallback-players", config.match_fallback_players,
              "the smallest public match, started after --mafia-match-max-wait-ms");
  options.add("mafia-match-fill-ms", config.match_fill_ms,
              "how long a group of min..max-1 players waits to fill up");
  options.add("mafia-match-max-wait-ms", config.match_max_wait_ms,
              "longest wait in the public queue (with at least the fallback players)");
  options.add("mafia-match-countdown-ms", config.match_countdown_ms,
              "countdown of a matched room before its game starts");
  options.add("mafia-match-discussion-s", config.match_settings_discussion_s,
              "discussionTime of public matches");
  options.add("mafia-match-vote-s", config.match_settings_vote_s, "voteTime of public matches");
  options.add("mafia-match-night-s", config.match_settings_night_s, "nightTime of public matches");
  options.add("mafia-queue-max", config.queue_max, "players waiting in the public queue");
  options.add("mafia-identity-key", config.identity_key,
              "hex HMAC key of guest tokens (empty: random per process)");
  declare_session_options(options, game_name, config.sessions);
}

std::string mafia_module::check_config(const mafia_config& config) {
  if (config.min_players < 3) return "--mafia-min-players must be at least 3";
  if (config.max_players < config.min_players || config.max_players > 64) {
    return "--mafia-max-players must be from --mafia-min-players to 64";
  }
  if (config.default_max_players > config.max_players) {
    return "--mafia-max-players must be at least 10 (the default maxPlayers)";
  }
  if (config.max_message_bytes < 1024) return "--mafia-max-message-bytes must be at least 1024";
  if (config.chat_burst < 1 || config.chat_window_ms < 1) {
    return "--mafia-chat-burst and --mafia-chat-window-ms must be at least 1";
  }
  if (config.match_fallback_players < config.min_players ||
      config.match_fallback_players > config.match_min_players ||
      config.match_min_players > config.match_max_players ||
      config.match_max_players > config.max_players) {
    return "matchmaking needs --mafia-min-players <= --mafia-match-fallback-players <= "
           "--mafia-match-min-players <= --mafia-match-max-players <= --mafia-max-players";
  }
  if (config.match_fill_ms < 0 || config.match_max_wait_ms < config.match_fill_ms ||
      config.match_countdown_ms < 0) {
    return "--mafia-match-fill-ms <= --mafia-match-max-wait-ms, both and the countdown >= 0";
  }
  for (std::uint32_t s : {config.match_settings_discussion_s, config.match_settings_vote_s,
                          config.match_settings_night_s}) {
    if (s < config.min_phase_s || s > config.max_phase_s) {
      return "--mafia-match-*-s must be from 1 to 600 seconds";
    }
  }
  if (config.queue_max < 1) return "--mafia-queue-max must be at least 1";
  if (!config.identity_key.empty() &&
      (config.identity_key.size() < 32 || config.identity_key.size() % 2 != 0 ||
       !is_hex(config.identity_key))) {
    return "--mafia-identity-key must be at least 32 hex digits (an even number)";
  }
  return check_session_policy(game_name, config.sessions);
}

mafia_module::mafia_module(mafia_config config)
    : module_base(game_name, "/ws/mafia",
                  {mafia::role_names, mafia::in_type_names, mafia::out_type_names}, config),
      keys_(key_bytes(this->config().identity_key)) {}

decode_result mafia_module::decode(std::string_view text, bool first_message) const {
  return mafia::decode(config(), keys_, text, first_message);
}

std::string mafia_module::encode_error(std::string_view code, std::string_view message) const {
  return mafia::encode_error(code, message);
}

std::string mafia_module::encode_request_error(std::string_view code, std::string_view message,
                                               std::string_view request_type) const {
  return mafia::encode_error(code, message, request_type);
}

std::string mafia_module::identified_frame(const connection_identity& identity) const {
  json::object payload{{"userId", identity.user_id},
                       {"username", identity.display_name},
                       {"isGuest", identity.guest}};
  // A guest keeps its token to be the same user later; a token-made identity has its own.
  if (identity.guest) payload["token"] = keys_.token_for(identity.user_id);
  return mafia::encode_frame(mafia::out_type::auth_success, payload);
}

std::vector<game_module::standing_room> mafia_module::standing_rooms() const {
  return {standing_room{std::string(mafia::queue_code), json::object{{"queue", true}}}};
}

create_result mafia_module::create(const json::object& options, std::string_view code) const {
  create_result result;
  if (options.if_contains("queue")) {
    mafia::queue_state queue;
    queue.code = std::string(code);
    result.instance = std::make_unique<mafia_matchmaker>(config(), std::move(queue));
    return result;
  }
  mafia::room_state state;
  state.code = std::string(code);
  state.max_players = config().default_max_players;
  if (const json::value* matched = options.if_contains("matched")) {
    // The matchmaker's room: public, its players' seats reserved, the first one hosts.
    state.matched = true;
    state.is_public = true;
    state.max_players = config().match_max_players;
    state.config = {config().match_settings_discussion_s, config().match_settings_vote_s,
                    config().match_settings_night_s};
    if (!matched->is_array()) {
      result.error = {"bad_request", "matched: an array of {userId, username}"};
      return result;
    }
    for (const json::value& m : matched->get_array()) {
      const json::object* o = m.if_object();
      const json::value* id = o ? o->if_contains("userId") : nullptr;
      if (!id || !id->is_string()) {
        result.error = {"bad_request", "matched: an array of {userId, username}"};
        return result;
      }
      state.reserved.emplace_back(id->get_string());
    }
    if (!state.reserved.empty()) state.host_id = state.reserved.front();
    result.reply["code"] = state.code;
    result.reply["game"] = "mafia";
    result.instance = std::make_unique<mafia_game>(config(), std::move(state));
    return result;
  }
  // room:create's payload (checked by decode) or the admin API's options.
  for (const auto& member : options) {
    const std::string_view key = member.key();
    if (key != "isPublic" && key != "maxPlayers" && key != "settings") {
      result.error = {"bad_request",
                      "unknown option " + std::string(key) + " (isPublic, maxPlayers, settings)"};
      return result;
    }
  }
  if (const json::value* v = options.if_contains("isPublic")) {
    if (!v->is_bool()) {
      result.error = {"invalid_field", "isPublic: must be true or false"};
      return result;
    }
    state.is_public = v->get_bool();
  }
  if (const json::value* v = options.if_contains("maxPlayers")) {
    const auto n = v->is_int64()    ? v->get_int64()
                   : v->is_uint64() ? static_cast<std::int64_t>(v->get_uint64())
                                    : -1;
    if (n < config().min_players || n > config().max_players) {
      result.error = {"invalid_field", "maxPlayers: from " + std::to_string(config().min_players) +
                                           " to " + std::to_string(config().max_players)};
      return result;
    }
    state.max_players = static_cast<std::uint32_t>(n);
  }
  if (const json::value* v = options.if_contains("settings")) {
    // The same checks as room:create's decode, for the admin API's callers.
    const std::string text = json::serialize(
        json::object{{"type", "room:create"}, {"payload", json::object{{"settings", *v}}}});
    decode_result decoded = mafia::decode(config(), keys_, text, true);
    if (decoded.error) {
      result.error = decoded.error;
      return result;
    }
    const auto& update = static_cast<const mafia::request&>(*decoded.cmd).settings;
    if (update.discussion_s) state.config.discussion_s = *update.discussion_s;
    if (update.vote_s) state.config.vote_s = *update.vote_s;
    if (update.night_s) state.config.night_s = *update.night_s;
  }
  result.reply["code"] = state.code;
  result.reply["game"] = "mafia";
  result.instance = std::make_unique<mafia_game>(config(), std::move(state));
  return result;
}

std::unique_ptr<game> mafia_module::restore(std::string_view bytes) const {
  if (auto room = mafia_restore(config(), bytes)) return room;
  return mafia_queue_restore(config(), bytes);
}

}  // namespace partyd
