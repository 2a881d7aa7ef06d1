#include "games/brainrot/codec.hpp"

#include <algorithm>
#include <exception>
#include <memory>
#include <set>
#include <utility>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "games/brainrot/reply_size.hpp"
#include "games/common/envelope.hpp"
#include "games/common/json_io.hpp"
#include "games/common/text.hpp"

namespace partyd::brainrot {

namespace json = boost::json;

namespace {

constexpr std::array<std::string_view, 7> seed_error_codes = {
    "room_not_found", "room_expired", "bad_request", "forbidden",
    "conflict",       "not_in_phase", "not_claimed"};

bool is_seed_error(std::string_view code) {
  return std::find(seed_error_codes.begin(), seed_error_codes.end(), code) !=
         seed_error_codes.end();
}

// A shape error found by decode: the whole ERROR payload travels in protocol_error::message
// (see encode_error), so that the client gets `details` and, when known, the room `code`.
bool bad(decode_result& result, std::string_view room_code, std::string_view message,
         json::object details) {
  result.error = protocol_error{
      "bad_request", json::serialize(error_payload(room_code, "bad_request", message, details))};
  return false;
}

bool bad_field(decode_result& result, std::string_view room_code, std::string_view field,
               std::string_view reason) {
  return bad(result, room_code, "invalid_payload",
             json::object{{"field", field}, {"reason", reason}});
}

// nullptr when absent or null: null counts as absent.
const json::value* find_field(const json::object& object, std::string_view key) {
  const json::value* found = object.if_contains(key);
  if (found == nullptr || found->is_null()) {
    return nullptr;
  }
  return found;
}

// A required string of 1..max_chars code points. Returns the failure reason, or "" when valid.
std::string_view read_string(const json::object& object, std::string_view key,
                             std::size_t max_chars, std::string& out) {
  const json::value* found = find_field(object, key);
  if (found == nullptr) {
    return "required";
  }
  if (!found->is_string()) {
    return "not_string";
  }
  const json::string& text = found->get_string();
  if (text.empty()) {
    return "empty";
  }
  if (utf8_length(text) > max_chars) {
    return "too_long";
  }
  out.assign(text.data(), text.size());
  return {};
}

// Which fields each type carries (besides `code`).
enum field_bit : std::uint32_t {
  f_device = 1u << 0,
  f_player = 1u << 1,
  f_master = 1u << 2,
  f_master_optional = 1u << 3,
  f_round_item = 1u << 4,
  f_new_name = 1u << 5,
  f_image = 1u << 6,
  f_active = 1u << 7,
  f_selections = 1u << 8,
};

constexpr std::array<std::uint32_t, in_type_names.size()> fields_of = {
    0,                                                  // CREATE_ROOM (own validation)
    f_device,                                           // JOIN_ROOM
    f_player | f_device,                                // TAKE_PLAYER
    f_player | f_device | f_new_name,                   // RENAME_PLAYER
    f_player | f_device | f_image,                      // UPDATE_AVATAR
    f_master | f_player | f_active,                     // TOGGLE_PLAYER
    f_master,                                           // START_GAME
    f_master | f_round_item,                            // REEL_OPENED
    f_round_item | f_player | f_device | f_selections,  // SUBMIT_VOTE
    f_master | f_round_item,                            // END_ITEM
    f_master,                                           // START_NEXT_ROUND
    f_device | f_master_optional,                       // STATE_SYNC
    f_master,                                           // ROOM_CLOSED
};

bool decode_fields(decode_result& result, const brainrot_config& config, request& req,
                   const json::object& payload) {
  const std::uint32_t fields = fields_of[req.type];
  const std::string_view code = req.code;
  std::string_view reason;
  auto string_field = [&](std::string_view key, std::size_t max_chars, std::string& out) {
    reason = read_string(payload, key, max_chars, out);
    return reason.empty() || bad_field(result, code, key, reason);
  };
  // Fields are checked in the order of the seed's request types; the first bad one is reported.
  if ((fields & f_master) != 0) {
    std::string key;
    if (!string_field("master_key", config.master_key_max_chars, key)) {
      return false;
    }
    req.master_key = std::move(key);
  }
  if ((fields & f_round_item) != 0) {
    if (!string_field("round_id", config.id_max_chars, req.round_id) ||
        !string_field("item_id", config.id_max_chars, req.item_id)) {
      return false;
    }
  }
  if ((fields & f_player) != 0 && !string_field("player_id", config.id_max_chars, req.player_id)) {
    return false;
  }
  if ((fields & f_device) != 0 && !string_field("device_id", config.id_max_chars, req.device_id)) {
    return false;
  }
  if ((fields & f_new_name) != 0) {
    const json::value* found = find_field(payload, "new_name");
    if (found == nullptr) {
      return bad_field(result, code, "new_name", "required");
    }
    if (!found->is_string()) {
      return bad_field(result, code, "new_name", "not_string");
    }
    req.new_name = std::string(found->get_string());
  }
  if ((fields & f_image) != 0) {
    // Not a shape error: the game answers invalid_avatar / not_string like the seed.
    const json::value* found = find_field(payload, "image");
    if (found != nullptr && found->is_string()) {
      req.image = std::string(found->get_string());
    }
  }
  if ((fields & f_active) != 0) {
    const json::value* found = find_field(payload, "active");
    if (found == nullptr) {
      return bad_field(result, code, "active", "required");
    }
    if (!found->is_bool()) {
      return bad_field(result, code, "active", "not_boolean");
    }
    req.active = found->get_bool();
  }
  if ((fields & f_selections) != 0) {
    const json::value* found = find_field(payload, "selections");
    if (found == nullptr) {
      return bad_field(result, code, "selections", "required");
    }
    if (!found->is_array()) {
      return bad_field(result, code, "selections", "not_array");
    }
    // Entries are judged by the game (VOTE_ACK invalid_selection), not here.
    req.selections_total = found->get_array().size();
    for (const json::value& entry : found->get_array()) {
      if (entry.is_string()) {
        req.selections.emplace_back(entry.get_string());
      } else {
        req.selections_are_strings = false;
      }
    }
  }
  if ((fields & f_master_optional) != 0) {
    const json::value* found = find_field(payload, "master_key");
    if (found != nullptr) {
      if (!found->is_string()) {
        return bad_field(result, code, "master_key", "not_string");
      }
      // Any string: a wrong key only makes STATE_SYNC a play sync.
      req.master_key = std::string(found->get_string());
    }
  }
  return true;
}

decode_result decode_unsafe(const brainrot_config& config, std::string_view text,
                            bool first_message) {
  decode_result result;
  if (text.size() > config.max_message_bytes) {
    bad(result, {}, "message_too_large",
        json::object{{"max_bytes", static_cast<std::uint64_t>(config.max_message_bytes)}});
    return result;
  }
  const envelope message = parse_envelope(text, in_type_names);
  if (message.outcome != envelope::status::ok) {
    result.error = protocol_error{"bad_request", message.outcome == envelope::status::unknown_type
                                                     ? "unknown_type"
                                                     : "invalid_message"};
    return result;
  }
  const json::object& envelope = message.object();
  auto req = std::make_unique<request>();
  req->type = static_cast<std::uint16_t>(message.type_index);
  const json::value* payload_field = envelope.if_contains("payload");
  if (payload_field == nullptr || !payload_field->is_object()) {
    bad_field(result, {}, "payload", payload_field == nullptr ? "required" : "not_object");
    return result;
  }
  const json::object& payload = payload_field->get_object();

  if (type_of(*req) == in_type::create_room) {
    create_validation checked = validate_create_room(config, payload);
    if (!checked) {
      bad(result, {}, checked.message, checked.details);
      return result;
    }
    if (first_message) {
      result.creates_room = true;
      result.create_options = payload;
    }
    result.cmd = std::move(req);
    return result;
  }

  if (std::string_view reason = read_string(payload, "code", config.code_max_chars, req->code);
      !reason.empty()) {
    bad_field(result, {}, "code", reason);
    return result;
  }
  if (!decode_fields(result, config, *req, payload)) {
    return result;
  }
  result.room_code = req->code;
  result.cmd = std::move(req);
  return result;
}

// --- CREATE_ROOM ---

struct create_error {
  std::string message;
  json::object details;
};

[[noreturn]] void fail(std::string field, std::string_view reason,
                       std::string_view message = "invalid_payload") {
  throw create_error{std::string(message), json::object{{"field", field}, {"reason", reason}}};
}

std::string path(std::string_view list, std::size_t index, std::string_view key = {}) {
  std::string out(list);
  out += '[';
  out += std::to_string(index);
  out += ']';
  if (!key.empty()) {
    out += '.';
    out += key;
  }
  return out;
}

const json::value& need(const json::object& object, std::string_view key, const std::string& at) {
  const json::value* found = find_field(object, key);
  if (found == nullptr) {
    fail(at, "required");
  }
  return *found;
}

const json::array& need_array(const json::object& object, std::string_view key,
                              const std::string& at) {
  const json::value& v = need(object, key, at);
  if (!v.is_array()) {
    fail(at, "not_array");
  }
  return v.get_array();
}

const json::object& need_object(const json::value& v, const std::string& at) {
  if (!v.is_object()) {
    fail(at, "not_object");
  }
  return v.get_object();
}

std::string need_id(const brainrot_config& config, const json::value& v, const std::string& at) {
  if (!v.is_string()) {
    fail(at, "not_string");
  }
  const json::string& text = v.get_string();
  if (text.empty()) {
    fail(at, "empty");
  }
  if (utf8_length(text) > config.id_max_chars) {
    fail(at, "too_long");
  }
  return std::string(text);
}

std::string need_id(const brainrot_config& config, const json::object& object, std::string_view key,
                    const std::string& at) {
  return need_id(config, need(object, key, at), at);
}

void read_senders(const brainrot_config& config, const json::object& payload, room_state& state) {
  const json::array& list = need_array(payload, "senders", "senders");
  std::set<std::string> ids;
  std::size_t active = 0;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const json::object& entry = need_object(list[i], path("senders", i));
    sender s;
    s.sender_id = need_id(config, entry, "sender_id", path("senders", i, "sender_id"));
    if (!ids.insert(s.sender_id).second) {
      fail(path("senders", i, "sender_id"), "duplicate");
    }
    const json::value& name = need(entry, "name", path("senders", i, "name"));
    if (!name.is_string()) {
      fail(path("senders", i, "name"), "not_string");
    }
    s.name = std::string(name.get_string());
    const json::value& is_active = need(entry, "active", path("senders", i, "active"));
    if (!is_active.is_bool()) {
      fail(path("senders", i, "active"), "not_boolean");
    }
    s.active = is_active.get_bool();
    const json::value& reels = need(entry, "reels_count", path("senders", i, "reels_count"));
    if (reels.is_uint64()) {
      s.reels_count = static_cast<std::int64_t>(
          std::min<std::uint64_t>(reels.get_uint64(), static_cast<std::uint64_t>(INT64_MAX)));
    } else if (reels.is_int64() && reels.get_int64() >= 0) {
      s.reels_count = reels.get_int64();
    } else if (reels.is_double() && reels.get_double() >= 0 && reels.get_double() <= 1e15 &&
               reels.get_double() ==
                   static_cast<double>(static_cast<std::int64_t>(reels.get_double()))) {
      s.reels_count = static_cast<std::int64_t>(reels.get_double());
    } else {
      fail(path("senders", i, "reels_count"), "not_non_negative_integer");
    }
    active += s.active ? 1 : 0;
    state.senders.push_back(std::move(s));
  }
  if (active < 2) {
    fail("senders", "fewer_than_2_active");
  }
}

void read_rounds(const brainrot_config& config, const json::object& payload, room_state& state) {
  std::set<std::string> sender_ids;
  for (const sender& s : state.senders) {
    sender_ids.insert(s.sender_id);
  }
  const json::array& list = need_array(payload, "rounds", "rounds");
  if (list.empty()) {
    fail("rounds", "empty");
  }
  std::set<std::string> round_ids;
  for (std::size_t r = 0; r < list.size(); ++r) {
    const std::string at = path("rounds", r);
    const json::object& entry = need_object(list[r], at);
    round rd;
    rd.round_id = need_id(config, entry, "round_id", at + ".round_id");
    if (!round_ids.insert(rd.round_id).second) {
      fail(at + ".round_id", "duplicate");
    }
    const json::array& items = need_array(entry, "items", at + ".items");
    if (items.empty()) {
      fail(at + ".items", "empty");
    }
    std::set<std::string> item_ids;
    for (std::size_t i = 0; i < items.size(); ++i) {
      const std::string item_at = path(at + ".items", i);
      const json::object& item_entry = need_object(items[i], item_at);
      item it;
      it.item_id = need_id(config, item_entry, "item_id", item_at + ".item_id");
      if (!item_ids.insert(it.item_id).second) {
        fail(item_at + ".item_id", "duplicate");
      }
      const json::object& reel =
          need_object(need(item_entry, "reel", item_at + ".reel"), item_at + ".reel");
      it.reel_id = need_id(config, reel, "reel_id", item_at + ".reel.reel_id");
      const json::value& url = need(reel, "url", item_at + ".reel.url");
      if (!url.is_string()) {
        fail(item_at + ".reel.url", "not_string");
      }
      it.url = std::string(url.get_string());
      const json::array& truth =
          need_array(item_entry, "true_sender_ids", item_at + ".true_sender_ids");
      if (truth.empty()) {
        fail(item_at + ".true_sender_ids", "empty");
      }
      for (std::size_t t = 0; t < truth.size(); ++t) {
        const std::string truth_at = path(item_at + ".true_sender_ids", t);
        std::string id = need_id(config, truth[t], truth_at);
        if (!sender_ids.contains(id)) {
          fail(truth_at, "unknown_sender");
        }
        if (std::find(it.true_sender_ids.begin(), it.true_sender_ids.end(), id) !=
            it.true_sender_ids.end()) {
          fail(truth_at, "duplicate");
        }
        it.true_sender_ids.push_back(std::move(id));
      }
      rd.items.push_back(std::move(it));
    }
    state.rounds.push_back(std::move(rd));
  }
  const json::value* order = find_field(payload, "round_order");
  if (order == nullptr) {
    for (const round& rd : state.rounds) {
      state.round_order.push_back(rd.round_id);
    }
    return;
  }
  if (!order->is_array()) {
    fail("round_order", "not_array");
  }
  std::set<std::string> seen;
  for (std::size_t i = 0; i < order->get_array().size(); ++i) {
    std::string id = need_id(config, order->get_array()[i], path("round_order", i));
    if (!round_ids.contains(id) || !seen.insert(id).second) {
      fail("round_order", "not_a_permutation");
    }
    state.round_order.push_back(std::move(id));
  }
  if (state.round_order.size() != state.rounds.size()) {
    fail("round_order", "not_a_permutation");
  }
}

}  // namespace

in_type type_of(const request& r) noexcept { return static_cast<in_type>(r.type); }

decode_result decode(const brainrot_config& config, std::string_view text, bool first_message) {
  try {
    return decode_unsafe(config, text, first_message);
  } catch (const std::exception&) {
    // Only allocation failures can get here; answer with an error rather than unwinding into io.
    decode_result result;
    result.error = protocol_error{"bad_request", "invalid_message"};
    return result;
  }
}

create_validation validate_create_room(const brainrot_config& config,
                                       const boost::json::object& payload) {
  create_validation out;
  try {
    read_senders(config, payload, out.state);
    read_rounds(config, payload, out.state);
  } catch (create_error& e) {
    out.state = room_state{};
    out.message = std::move(e.message);
    out.details = std::move(e.details);
    return out;
  }
  for (const sender& s : out.state.senders) {
    player p;
    p.player_id = "p_" + s.sender_id;
    p.sender_id = s.sender_id;
    p.is_sender_bound = true;
    p.active = s.active;
    p.name = s.name;
    out.state.scores[p.player_id] = 0;
    out.state.players.push_back(std::move(p));
  }
  // Its largest frame must fit what a connection may queue, before any avatar.
  if (largest_reply_bound(config, out.state) > config.reply_max_bytes) {
    out.state = room_state{};
    out.message = "limit_reached";
    out.details = json::object{{"reason", "room_too_large"},
                               {"max_bytes", static_cast<std::uint64_t>(config.reply_max_bytes)}};
  }
  return out;
}

std::string normalize_name(std::string_view text) {
  constexpr std::string_view space = " \t\n\r\f\v";
  std::string out;
  out.reserve(text.size());
  bool pending_space = false;
  for (char c : text) {
    if (space.find(c) != std::string_view::npos) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) {
      out.push_back(' ');
      pending_space = false;
    }
    out.push_back(c);
  }
  return out;
}

std::string_view phase_name(phase p) noexcept {
  switch (p) {
    case phase::lobby:
      return "lobby";
    case phase::game:
      return "game";
    case phase::over:
      return "over";
  }
  return "lobby";
}

std::string_view status_name(status s) noexcept {
  switch (s) {
    case status::idle:
      return "idle";
    case status::vote:
      return "vote";
    case status::reveal_wait:
      return "reveal_wait";
    case status::round_recap:
      return "round_recap";
  }
  return "idle";
}

std::optional<phase> parse_phase(std::string_view name) noexcept {
  for (phase p : {phase::lobby, phase::game, phase::over}) {
    if (phase_name(p) == name) {
      return p;
    }
  }
  return std::nullopt;
}

std::optional<status> parse_status(std::string_view name) noexcept {
  for (status s : {status::idle, status::vote, status::reveal_wait, status::round_recap}) {
    if (status_name(s) == name) {
      return s;
    }
  }
  return std::nullopt;
}

json::object results_json(const vote_results& results) {
  json::array players;
  for (const player_result& r : results.players) {
    players.emplace_back(json::object{{"player_id", r.player_id},
                                      {"selections", strings_to_json(r.selections)},
                                      {"correct", strings_to_json(r.correct)},
                                      {"incorrect", strings_to_json(r.incorrect)},
                                      {"points_gained", r.points_gained},
                                      {"score_total", r.score_total}});
  }
  return json::object{{"round_id", results.round_id},
                      {"item_id", results.item_id},
                      {"true_senders", strings_to_json(results.true_senders)},
                      {"players", std::move(players)}};
}

std::string encode(out_type type, boost::json::object payload) {
  json::object envelope;
  envelope["type"] = out_type_names[index_of(type)];
  envelope["payload"] = std::move(payload);
  return json::serialize(envelope);
}

boost::json::object error_payload(std::string_view room_code, std::string_view error,
                                  std::string_view message, const boost::json::object& details) {
  json::object payload;
  if (!room_code.empty()) {
    payload["code"] = room_code;
  }
  payload["error"] = error;
  if (!message.empty()) {
    payload["message"] = message;
  }
  if (!details.empty()) {
    payload["details"] = details;
  }
  return payload;
}

std::string encode_error(std::string_view code, std::string_view message,
                         std::string_view room_code) {
  if (!message.empty() && message.front() == '{') {
    boost::system::error_code ec;
    json::value pre = json::parse(message, ec);
    if (!ec && pre.is_object()) {
      return encode(out_type::error, std::move(pre.get_object()));
    }
  }
  if (is_seed_error(code)) {
    return encode(out_type::error, error_payload(room_code, code, message, {}));
  }
  // An engine condition (rate_limited, inbox_full, server_shutting_down, limit_reached): the
  // seed has no code for it, so it is a bad_request naming the condition.
  return encode(out_type::error,
                error_payload(room_code, "bad_request", code, json::object{{"reason", message}}));
}

}  // namespace partyd::brainrot
