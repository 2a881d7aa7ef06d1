#include "games/alias/codec.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <exception>
#include <set>
#include <stdexcept>
#include <utility>

#include <boost/json/parse.hpp>

#include "games/alias/module.hpp"
#include "games/alias/pack_data.hpp"
#include "games/common/envelope.hpp"
#include "games/common/fields.hpp"
#include "games/common/json_writer.hpp"

namespace partyd::alias {

namespace json = boost::json;

namespace {

bool is_difficulty(std::string_view d) { return d == "easy" || d == "medium" || d == "hard"; }

std::string folded(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// A pack's words: strings, or {text, difficulty}; no word twice (case-insensitively).
bool parse_words(const json::array& list, std::size_t max_chars, const std::string& path,
                 std::vector<word>& out, std::string& field, std::string& reason) {
  std::set<std::string> seen;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string at = path + "[" + std::to_string(i) + "]";
    word w;
    w.difficulty = "medium";
    const json::value* text = &list[i];
    if (list[i].is_object()) {
      const json::object& object = list[i].get_object();
      for (const auto& member : object) {
        if (member.key() != "text" && member.key() != "difficulty") {
          field = at + "." + std::string(member.key());
          reason = "unknown field (text, difficulty)";
          return false;
        }
      }
      text = object.if_contains("text");
      if (text == nullptr) {
        field = at + ".text";
        reason = "required";
        return false;
      }
      if (const json::value* difficulty = object.if_contains("difficulty")) {
        if (!difficulty->is_string() || !is_difficulty(difficulty->get_string())) {
          field = at + ".difficulty";
          reason = "must be \"easy\", \"medium\" or \"hard\"";
          return false;
        }
        w.difficulty = std::string(difficulty->get_string());
      }
    }
    if (!text_field(*text, max_chars, w.text, reason)) {
      field = list[i].is_object() ? at + ".text" : at;
      if (!text->is_string() && !list[i].is_object()) reason = "must be a string or {text}";
      return false;
    }
    if (!seen.insert(folded(w.text)).second) {
      field = at;
      reason = "repeats another word";
      return false;
    }
    out.push_back(std::move(w));
  }
  return true;
}

std::vector<word_pack> parse_shipped_packs() {
  std::vector<word_pack> packs;
  for (const pack_source& source : pack_sources()) {
    // Shipped packs are checked by the unit tests; one that fails to parse is a build defect.
    const json::value root = json::parse(source.json);
    const json::object& object = root.as_object();
    word_pack p;
    p.id = std::string(object.at("id").as_string());
    p.name = std::string(object.at("name").as_string());
    p.language = std::string(object.at("language").as_string());
    std::string field;
    std::string reason;
    if (p.id == custom_pack_id ||
        !parse_words(object.at("words").as_array(), 40, "words", p.words, field, reason) ||
        p.words.empty()) {
      throw std::runtime_error("alias pack " + std::string(source.file) + ": " + field + " " +
                               reason);
    }
    packs.push_back(std::move(p));
  }
  std::sort(packs.begin(), packs.end(),
            [](const word_pack& a, const word_pack& b) { return a.id < b.id; });
  return packs;
}

void bad(decode_result& result, std::string code, std::string message) {
  result.cmd.reset();
  result.error = protocol_error{std::move(code), std::move(message)};
}

// payload.<key> as an id-like string of 1..max bytes.
bool id_field(const json::object& payload, std::string_view key, std::size_t max_chars,
              std::string& out, decode_result& result) {
  const json::value* v = payload.if_contains(key);
  if (v == nullptr || !v->is_string() || v->get_string().empty() ||
      v->get_string().size() > max_chars) {
    bad(result, "VALIDATION_FAILED",
        "payload." + std::string(key) + ": " +
            (v == nullptr ? std::string("required")
                          : "a string of 1 to " + std::to_string(max_chars) + " characters"));
    return false;
  }
  out = std::string(v->get_string());
  return true;
}

decode_result decode_unsafe(const alias_config& config, std::string_view text, bool first_message) {
  decode_result result;
  if (text.size() > config.max_message_bytes) {
    bad(result, "MESSAGE_TOO_LARGE",
        "a message may have at most " + std::to_string(config.max_message_bytes) + " bytes");
    return result;
  }
  const envelope message = parse_envelope(text, in_type_names);
  if (message.outcome == envelope::status::unknown_type) {
    bad(result, "UNKNOWN_TYPE", "unknown message type");
    return result;
  }
  if (message.outcome != envelope::status::ok) {
    bad(result, "BAD_MESSAGE", "a message is a JSON object with a string \"type\"");
    return result;
  }
  auto req = std::make_unique<request>();
  req->type = static_cast<std::uint16_t>(message.type_index);
  result.request_type = in_type_names[message.type_index];
  const json::object& object = message.object();
  const in_type type = type_of(*req);
  if (first_message && type != in_type::create_room && type != in_type::join_room) {
    bad(result, "NOT_IN_ROOM", "the first message must be CREATE_ROOM, JOIN_ROOM or RECONNECT");
    return result;
  }
  static const json::object no_payload;
  const json::object* payload = &no_payload;
  if (const json::value* p = object.if_contains("payload"); p != nullptr && !p->is_null()) {
    if (!p->is_object()) {
      bad(result, "VALIDATION_FAILED", "payload: must be an object");
      return result;
    }
    payload = &p->get_object();
  }
  if (const json::value* actor = object.if_contains("actorId"); actor != nullptr) {
    if (!actor->is_string() || actor->get_string().size() > config.id_max_chars) {
      bad(result, "VALIDATION_FAILED",
          "actorId: a string of at most " + std::to_string(config.id_max_chars) + " characters");
      return result;
    }
    req->actor_id = std::string(actor->get_string());
  }
  std::string room_id;
  if (const json::value* room = object.if_contains("roomId"); room != nullptr) {
    if (!room->is_string() || room->get_string().size() > 16) {
      bad(result, "VALIDATION_FAILED", "roomId: a string of at most 16 characters");
      return result;
    }
    room_id = std::string(room->get_string());
    std::transform(room_id.begin(), room_id.end(), room_id.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  }
  switch (type) {
    case in_type::create_room:
    case in_type::join_room: {
      const char* name_key = type == in_type::create_room ? "hostName" : "playerName";
      const json::value* name = payload->if_contains(name_key);
      std::string why = "required";
      if (name == nullptr || !text_field(*name, config.name_max_chars, req->name, why)) {
        bad(result, "VALIDATION_FAILED", "payload." + std::string(name_key) + ": " + why);
        return result;
      }
      if (type == in_type::join_room) {
        if (room_id.empty()) {
          bad(result, "VALIDATION_FAILED", "roomId: required to join a room");
          return result;
        }
        result.room_code = room_id;
        break;
      }
      std::string field;
      std::string reason;
      // Checked here so that a bad setting is answered before a room is made for it;
      // module::create reads them again from create_options (as for the admin API).
      if (!parse_settings(config, *payload, field, reason)) {
        bad(result, "VALIDATION_FAILED", "payload." + field + ": " + reason);
        return result;
      }
      if (first_message) {
        result.creates_room = true;
        result.create_options = *payload;
      }
      break;
    }
    case in_type::start_team_setup: {
      const json::value* n = payload->if_contains("numTeams");
      std::string why = "required";
      if (n == nullptr || !range_field(*n, 2, 4, req->num_teams, why)) {
        bad(result, "VALIDATION_FAILED", "payload.numTeams: " + why);
        return result;
      }
      break;
    }
    case in_type::join_team:
      if (!id_field(*payload, "teamId", config.id_max_chars, req->team_id, result)) return result;
      if (payload->contains("playerId") &&
          !id_field(*payload, "playerId", config.id_max_chars, req->player_id, result)) {
        return result;
      }
      break;
    case in_type::word_swiped: {
      if (!id_field(*payload, "wordId", config.id_max_chars, req->word_id, result)) return result;
      const json::value* action = payload->if_contains("action");
      if (action == nullptr || !action->is_string() ||
          (action->get_string() != "guessed" && action->get_string() != "skipped")) {
        bad(result, "VALIDATION_FAILED", "payload.action: \"guessed\" or \"skipped\"");
        return result;
      }
      req->guessed = action->get_string() == "guessed";
      break;
    }
    case in_type::leave_room:
    case in_type::cancel_team_setup:
    case in_type::confirm_start:
    case in_type::pause_game:
    case in_type::resume_game:
    case in_type::restart_game:
    case in_type::close_room:
      break;
  }
  result.cmd = std::move(req);
  return result;
}

}  // namespace

const std::vector<word_pack>& shipped_packs() {
  static const std::vector<word_pack> packs = parse_shipped_packs();
  return packs;
}

const word_pack* find_shipped_pack(std::string_view id) {
  for (const word_pack& p : shipped_packs()) {
    if (p.id == id) return &p;
  }
  return nullptr;
}

const word_pack* selected_pack(const settings& s) {
  if (s.word_pack_id == custom_pack_id) return s.custom ? &*s.custom : nullptr;
  return find_shipped_pack(s.word_pack_id);
}

std::optional<settings> parse_settings(const alias_config& config, const json::object& payload,
                                       std::string& field, std::string& reason) {
  settings s;
  s.max_players = config.max_players;
  for (const auto& member : payload) {
    const std::string_view key = member.key();
    const json::value& v = member.value();
    field = std::string(key);
    if (key == "hostName") {
      continue;  // read by decode
    } else if (key == "maxPlayers") {
      if (!range_field(v, 2, config.max_players, s.max_players, reason)) return std::nullopt;
    } else if (key == "roundDurationSec") {
      if (!range_field(v, config.min_round_sec, config.max_round_sec, s.round_duration_sec,
                       reason)) {
        return std::nullopt;
      }
    } else if (key == "roundsPerTeam") {
      if (!range_field(v, 1, config.max_rounds_per_team, s.rounds_per_team, reason)) {
        return std::nullopt;
      }
    } else if (key == "scoreReviewSec") {
      if (!range_field(v, 0, config.max_score_review_sec, s.score_review_sec, reason)) {
        return std::nullopt;
      }
    } else if (key == "skipPenalty") {
      if (!v.is_bool()) {
        reason = "must be true or false";
        return std::nullopt;
      }
      s.skip_penalty = v.get_bool();
    } else if (key == "wordPackId") {
      if (!v.is_string() ||
          (v.get_string() != custom_pack_id && find_shipped_pack(v.get_string()) == nullptr)) {
        std::string ids;
        for (const word_pack& p : shipped_packs()) ids += (ids.empty() ? "" : ", ") + p.id;
        reason = "must name a shipped pack (" + ids + ") or \"custom\"";
        return std::nullopt;
      }
      s.word_pack_id = std::string(v.get_string());
    } else if (key == "customPack") {
      if (!v.is_object()) {
        reason = "must be an object {name, words}";
        return std::nullopt;
      }
      const json::object& object = v.get_object();
      word_pack custom;
      custom.id = std::string(custom_pack_id);
      custom.language = "";
      for (const auto& inner : object) {
        if (inner.key() != "name" && inner.key() != "words") {
          field = "customPack." + std::string(inner.key());
          reason = "unknown field (name, words)";
          return std::nullopt;
        }
      }
      const json::value* name = object.if_contains("name");
      field = "customPack.name";
      reason = "required";
      if (name == nullptr || !text_field(*name, config.pack_name_max_chars, custom.name, reason)) {
        return std::nullopt;
      }
      const json::value* words = object.if_contains("words");
      field = "customPack.words";
      if (words == nullptr || !words->is_array() ||
          words->get_array().size() < config.custom_min_words ||
          words->get_array().size() > config.custom_max_words) {
        reason = words == nullptr
                     ? "required"
                     : "must be an array of " + std::to_string(config.custom_min_words) + " to " +
                           std::to_string(config.custom_max_words) + " words";
        return std::nullopt;
      }
      if (!parse_words(words->get_array(), config.word_max_chars, "customPack.words", custom.words,
                       field, reason)) {
        return std::nullopt;
      }
      s.custom = std::move(custom);
    }
    // Other members are ignored: a newer minor version may add optional ones (alias.md).
  }
  if (s.custom && !payload.contains("wordPackId")) s.word_pack_id = std::string(custom_pack_id);
  if (s.word_pack_id == custom_pack_id && !s.custom) {
    field = "wordPackId";
    reason = "\"custom\" needs a customPack";
    return std::nullopt;
  }
  field.clear();
  return s;
}

decode_result decode(const alias_config& config, std::string_view text, bool first_message) {
  try {
    return decode_unsafe(config, text, first_message);
  } catch (const std::exception&) {
    // Only allocation failures get here; answer with an error rather than unwinding into io.
    decode_result result;
    result.error = protocol_error{"BAD_MESSAGE", "the message could not be read"};
    return result;
  }
}

std::string encode_frame(out_type type, std::string_view room_code, time_ms now,
                         std::string_view broadcast, std::string_view payload_json) {
  json_writer w(payload_json.size() + 128);
  w.begin_object();
  w.member("type", out_type_names[index_of(type)]).member("roomId", room_code);
  w.member("timestamp", now).member("version", protocol_version).member("broadcast", broadcast);
  w.key("payload").raw(payload_json);
  w.end_object();
  return w.take();
}

std::string encode_error(std::string_view room_code, time_ms now, std::string_view code,
                         std::string_view message, std::string_view request_type,
                         std::string_view current_state,
                         std::optional<std::uint64_t> state_version) {
  json_writer w;
  w.begin_object().member("code", code).member("message", message);
  if (!request_type.empty()) w.member("requestType", request_type);
  if (!current_state.empty()) w.member("currentState", current_state);
  if (state_version) w.member("stateVersion", *state_version);
  w.end_object();
  return encode_frame(out_type::error, room_code, now, "actor", w.take());
}

std::string upper_code(std::string_view code) {
  std::string out(code);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

}  // namespace partyd::alias
