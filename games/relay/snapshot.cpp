// Snapshot codec of the relay room: JSON (schema below). Only the persisted part of room_state is
// written (no connections); the output is a pure function of that state, so equal states give
// equal bytes. Restore validates everything and returns nullptr instead of throwing.
#include <algorithm>
#include <charconv>
#include <exception>
#include <set>
#include <utility>

#include <boost/json/serialize.hpp>

#include "engine/secrets.hpp"
#include "games/common/json_io.hpp"
#include "games/common/json_writer.hpp"
#include "games/relay/game.hpp"

namespace partyd {

namespace json = boost::json;
using namespace snapshot_read;

namespace {

// 4: every client's JSON is kept as its text, like the game state since 2: a seat's "metaText"
// and "playerStateText" (null when none), a queued message's "messageText"; older schemas held
// them as values ("meta", "playerState", "message"), written again as compact JSON on restore.
// 3: a seat held through a session keeps that session's connection id ("resumeConn", a decimal
// string; absent when 0), so the session resumes the seat after a restart.
// 2: each seat has "tokenHash", and the game state is kept as the host's text ("gameStateText",
// numbers exactly as written) instead of a re-serialized object ("gameState"). 1 (up to the seat
// tokens): a seat was reclaimed with its clientId
// ("p_" + the secret) alone; such a seat's token is its clientId (docs/protocol/relay.md).
constexpr std::int64_t snapshot_schema = 4;
constexpr std::int64_t oldest_snapshot_schema = 1;
constexpr std::uint64_t capacity_max = 100000;
// A client's JSON came in a message nested at most 32 levels deep.
constexpr unsigned client_json_depth = 32;

// The text of a client's JSON: "<key>Text" (schema 4), or the value "<key>" (older schemas),
// checked either way: the text is spliced into frames as it is.
std::string client_json(const json::object& object, std::string_view key, std::int64_t schema) {
  if (schema >= 4) {
    return as_json_text(field(object, std::string(key) + "Text"), client_json_depth);
  }
  std::string text = json::serialize(field(object, key));
  parse_json_text(text, client_json_depth);
  return text;
}

// A player state's text (an object), or nullopt when the host set none.
std::optional<std::string> player_state_json(const json::object& object, std::int64_t schema) {
  const json::value& stored = field(object, schema >= 4 ? "playerStateText" : "playerState");
  if (stored.is_null()) {
    return std::nullopt;
  }
  std::string text = schema >= 4 ? as_string(stored) : json::serialize(as_object(stored));
  as_object(parse_json_text(text, client_json_depth));
  return text;
}

relay::poll read_poll(const json::object& object) {
  relay::poll p;
  p.id = as_string(field(object, "pollId"));
  std::optional<relay::poll_type> kind =
      relay::parse_poll_type(as_string(field(object, "pollType")));
  if (p.id.empty() || !kind) {
    throw snapshot_malformed{};
  }
  p.type = *kind;
  p.question = as_string(field(object, "question"));
  p.options = as_strings(field(object, "options"));
  p.active = as_bool(field(object, "active"));
  const bool choice = p.type != relay::poll_type::free_text;
  if (choice != !p.options.empty() ||
      std::set<std::string>(p.options.begin(), p.options.end()).size() != p.options.size()) {
    throw snapshot_malformed{};
  }
  for (const json::value& entry : as_array(field(object, "responses"))) {
    const json::object& response = as_object(entry);
    std::string client_id = as_string(field(response, "clientId"));
    std::vector<std::string> answer = as_strings(field(response, "response"));
    if (answer.empty() || (p.type != relay::poll_type::multiple_choice && answer.size() != 1)) {
      throw snapshot_malformed{};
    }
    if (choice) {
      for (const std::string& chosen : answer) {
        if (std::find(p.options.begin(), p.options.end(), chosen) == p.options.end()) {
          throw snapshot_malformed{};
        }
      }
    }
    if (client_id.empty() || !p.responses.emplace(std::move(client_id), std::move(answer)).second) {
      throw snapshot_malformed{};
    }
  }
  return p;
}

std::unique_ptr<game> restore_unsafe(const relay_config& config, std::string_view bytes) {
  // Client JSON (depth <= 32) nested inside the snapshot's own levels.
  const json::value parsed = parse_document(bytes, 64);
  const json::object& root = as_object(parsed);
  const std::int64_t schema =
      require_header(root, oldest_snapshot_schema, snapshot_schema, "relay");
  relay::room_state state;
  state.room_code = as_string(field(root, "roomCode"));
  const json::object& room_config = as_object(field(root, "config"));
  state.password_hash = as_hash(field(room_config, "passwordHash"), true);
  state.host_key_hash = as_hash(field(room_config, "hostKeyHash"), false);
  const std::uint64_t max_players = as_uint(field(room_config, "maxPlayers"));
  const std::uint64_t max_audience = as_uint(field(room_config, "maxAudience"));
  if (state.room_code.empty() || max_players > capacity_max || max_audience > capacity_max) {
    return nullptr;
  }
  state.max_players = static_cast<std::uint32_t>(max_players);
  state.max_audience = static_cast<std::uint32_t>(max_audience);

  if (schema >= 2) {
    // The host's own text, kept byte for byte; it must still be one JSON object.
    state.game_state = as_string(field(root, "gameStateText"));
    const json::value game_state = parse_document(state.game_state, 64);
    as_object(game_state);
  } else {
    state.game_state = json::serialize(as_object(field(root, "gameState")));
  }
  state.next_seq = as_uint(field(root, "nextSeq"));

  for (const json::value& entry : as_array(field(root, "seats"))) {
    const json::object& object = as_object(entry);
    relay::seat s;
    s.client_id = as_string(field(object, "clientId"));
    s.token_hash =
        schema >= 2 ? as_hash(field(object, "tokenHash"), false) : sha256_tagged(s.client_id);
    s.seq = as_uint(field(object, "seq"));
    s.meta = client_json(object, "meta", schema);
    if (const json::value* resume = object.if_contains("resumeConn")) {
      const std::string digits = as_string(*resume);
      auto [end, error] =
          std::from_chars(digits.data(), digits.data() + digits.size(), s.resume_conn);
      if (error != std::errc() || end != digits.data() + digits.size() || s.resume_conn == 0) {
        return nullptr;
      }
    }
    s.player_state = player_state_json(object, schema);
    if (s.client_id.empty() || s.seq >= state.next_seq) {
      return nullptr;
    }
    std::string key = s.client_id;
    if (!state.seats.emplace(std::move(key), std::move(s)).second) {
      return nullptr;
    }
  }

  std::set<std::string> poll_ids;
  for (const json::value& entry : as_array(field(root, "polls"))) {
    relay::poll p = read_poll(as_object(entry));
    if (!poll_ids.insert(p.id).second) {
      return nullptr;
    }
    state.polls.push_back(std::move(p));
  }

  for (const json::value& entry : as_array(field(root, "hostQueue"))) {
    const json::object& object = as_object(entry);
    relay::queued_message queued;
    queued.client_id = as_string(field(object, "clientId"));
    const std::string role = as_string(field(object, "role"));
    if (role == "player") {
      queued.role = relay::player_role;
    } else if (role == "audience") {
      queued.role = relay::audience_role;
    } else {
      return nullptr;
    }
    queued.message = client_json(object, "message", schema);
    state.host_queue.push_back(std::move(queued));
  }
  // A smaller limit configured since the snapshot was taken keeps the newest messages.
  while (state.host_queue.size() > config.host_queue_max) {
    state.host_queue.pop_front();
  }
  return std::make_unique<relay_game>(config, std::move(state));
}

}  // namespace

// Written member by member (games/common/json_writer): through a json::object this cost one
// allocation per member, most of a worker's time for snapshots in a busy server.
std::string relay_game::snapshot() const {
  const auto strings = [](json_writer& w, const std::vector<std::string>& items) {
    w.begin_array();
    for (const std::string& item : items) {
      w.string(item);
    }
    w.end_array();
  };
  std::size_t reserve = 512 + state_.game_state.size();
  for (const auto& [id, s] : state_.seats) {
    reserve +=
        160 + s.client_id.size() + s.meta.size() + (s.player_state ? s.player_state->size() : 0);
  }
  json_writer w(reserve);
  w.begin_object();
  w.member("schema", snapshot_schema).member("game", "relay");
  w.member("roomCode", state_.room_code);
  w.key("config").begin_object();
  w.member("passwordHash", state_.password_hash).member("hostKeyHash", state_.host_key_hash);
  w.member("maxPlayers", state_.max_players).member("maxAudience", state_.max_audience);
  w.end_object();
  w.member("gameStateText", state_.game_state);
  w.member("nextSeq", state_.next_seq);

  w.key("seats").begin_array();
  for (const auto& [id, s] : state_.seats) {
    w.begin_object();
    w.member("clientId", s.client_id).member("tokenHash", s.token_hash).member("seq", s.seq);
    w.member("metaText", s.meta);
    w.key("playerStateText");
    if (s.player_state) {
      w.string(*s.player_state);
    } else {
      w.null();
    }
    if (s.resume_conn != 0) {
      w.member("resumeConn", std::to_string(s.resume_conn));  // beyond 2^53: a string
    }
    w.end_object();
  }
  w.end_array();

  w.key("polls").begin_array();
  for (const relay::poll& p : state_.polls) {
    w.begin_object();
    w.member("pollId", p.id).member("pollType", relay::poll_type_name(p.type));
    w.member("question", p.question);
    w.key("options");
    strings(w, p.options);
    w.member("active", p.active);
    w.key("responses").begin_array();
    for (const auto& [client_id, answer] : p.responses) {
      w.begin_object().member("clientId", client_id).key("response");
      strings(w, answer);
      w.end_object();
    }
    w.end_array();
    w.end_object();
  }
  w.end_array();

  w.key("hostQueue").begin_array();
  for (const relay::queued_message& queued : state_.host_queue) {
    w.begin_object();
    w.member("clientId", queued.client_id).member("role", relay::role_names[queued.role]);
    w.member("messageText", queued.message);
    w.end_object();
  }
  w.end_array();
  w.end_object();
  return w.take();
}

std::unique_ptr<game> relay_restore(const relay_config& config, std::string_view bytes) noexcept {
  return restore_guarded([&] { return restore_unsafe(config, bytes); });
}

}  // namespace partyd
