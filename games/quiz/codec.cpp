#include "games/quiz/codec.hpp"

#include <algorithm>
#include <exception>
#include <set>
#include <utility>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "games/common/envelope.hpp"
#include "games/common/fields.hpp"
#include "games/quiz/module.hpp"
#include "games/quiz/pack_data.hpp"

namespace partyd::quiz {

namespace json = boost::json;

namespace {

constexpr std::size_t min_options = 2;
constexpr std::size_t max_options = 6;

struct field_error {
  std::string field;
  std::string reason;
};

// One question of a pack (shipped or custom), under `path` for errors.
bool parse_question(const quiz_config* config, const json::value& v, const std::string& path,
                    question& out, field_error& error) {
  if (!v.is_object()) {
    error = {path, "must be an object"};
    return false;
  }
  const json::object& object = v.get_object();
  for (const auto& member : object) {
    const std::string_view key = member.key();
    if (key != "prompt" && key != "options" && key != "correctIndex" && key != "difficulty") {
      error = {path + "." + std::string(key),
               "unknown field (prompt, options, correctIndex, "
               "difficulty)"};
      return false;
    }
  }
  const std::size_t prompt_max = config ? config->prompt_max_chars : 1000;
  const std::size_t option_max = config ? config->option_max_chars : 1000;
  const json::value* prompt = object.if_contains("prompt");
  if (!prompt) {
    error = {path + ".prompt", "required"};
    return false;
  }
  if (std::string why; !text_field(*prompt, prompt_max, out.prompt, why)) {
    error = {path + ".prompt", why};
    return false;
  }
  const json::value* options = object.if_contains("options");
  if (!options || !options->is_array() || options->get_array().size() < min_options ||
      options->get_array().size() > max_options) {
    error = {path + ".options", options ? "must be an array of 2 to 6 strings" : "required"};
    return false;
  }
  std::set<std::string> seen;
  out.options.clear();
  for (std::size_t i = 0; i < options->get_array().size(); ++i) {
    std::string option;
    const std::string option_path = path + ".options[" + std::to_string(i) + "]";
    if (std::string why; !text_field(options->get_array()[i], option_max, option, why)) {
      error = {option_path, why};
      return false;
    }
    if (!seen.insert(option).second) {
      error = {option_path, "repeats another option"};
      return false;
    }
    out.options.push_back(std::move(option));
  }
  const json::value* correct = object.if_contains("correctIndex");
  if (!correct) {
    error = {path + ".correctIndex", "required"};
    return false;
  }
  if (std::string why; !range_field(*correct, 0, static_cast<std::int64_t>(out.options.size()) - 1,
                                    out.correct_index, why)) {
    error = {path + ".correctIndex", why};
    return false;
  }
  out.difficulty.clear();
  if (const json::value* difficulty = object.if_contains("difficulty")) {
    if (!difficulty->is_string() ||
        (difficulty->get_string() != "easy" && difficulty->get_string() != "medium" &&
         difficulty->get_string() != "hard")) {
      error = {path + ".difficulty", "must be \"easy\", \"medium\" or \"hard\""};
      return false;
    }
    out.difficulty = std::string(difficulty->get_string());
  }
  return true;
}

std::vector<pack> parse_shipped_packs() {
  std::vector<pack> packs;
  for (const pack_source& source : pack_sources()) {
    // Shipped packs are checked by the unit tests; one that fails to parse is a build defect.
    const json::value root = json::parse(source.json);
    const json::object& object = root.as_object();
    pack p;
    p.id = std::string(object.at("id").as_string());
    p.name = std::string(object.at("name").as_string());
    const json::array& questions = object.at("questions").as_array();
    for (std::size_t i = 0; i < questions.size(); ++i) {
      question q;
      field_error error;
      if (!parse_question(nullptr, questions[i], "questions[" + std::to_string(i) + "]", q,
                          error)) {
        throw std::runtime_error("quiz pack " + std::string(source.file) + ": " + error.field +
                                 " " + error.reason);
      }
      p.questions.push_back(std::move(q));
    }
    packs.push_back(std::move(p));
  }
  std::sort(packs.begin(), packs.end(), [](const pack& a, const pack& b) { return a.id < b.id; });
  return packs;
}

void bad(decode_result& result, std::string code, std::string message) {
  result.cmd.reset();
  result.error = protocol_error{std::move(code), std::move(message)};
}

decode_result decode_unsafe(const quiz_config& config, std::string_view text, bool first_message) {
  decode_result result;
  std::string refusal;
  std::string why_not;
  const envelope message = parse_message(text, config.max_message_bytes, in_type_names,
                                         "invalid_message", refusal, why_not);
  if (message.outcome != envelope::status::ok) {
    bad(result, std::move(refusal), std::move(why_not));
    return result;
  }
  auto req = std::make_unique<request>();
  req->type = static_cast<std::uint16_t>(message.type_index);
  result.request_type = in_type_names[message.type_index];
  const json::object& object = message.object();
  const in_type type = type_of(*req);
  if (first_message && type != in_type::lobby_create && type != in_type::lobby_join) {
    bad(result, "not_in_lobby", "the first message must be lobby:create or lobby:join");
    return result;
  }
  switch (type) {
    case in_type::lobby_create:
    case in_type::lobby_settings: {
      const json::value* settings = object.if_contains("settings");
      if (settings == nullptr && type == in_type::lobby_create) {
        req->settings = settings_update{};
      } else if (settings == nullptr || !settings->is_object()) {
        bad(result, "invalid_settings",
            settings == nullptr ? "settings: required" : "settings: must be an object");
        return result;
      } else {
        std::string field;
        std::string reason;
        req->settings = parse_settings(config, settings->get_object(), field, reason);
        if (!req->settings) {
          bad(result, "invalid_settings", "settings." + field + ": " + reason);
          return result;
        }
      }
      if (type == in_type::lobby_create && first_message) {
        result.creates_room = true;
        if (settings != nullptr) result.create_options["settings"] = *settings;
      }
      break;
    }
    case in_type::lobby_join: {
      const json::value* code = object.if_contains("code");
      if (code == nullptr || !code->is_string() || code->get_string().empty() ||
          code->get_string().size() > config.code_max_chars) {
        bad(result, "invalid_field",
            "code: a string of 1 to " + std::to_string(config.code_max_chars) + " characters");
        return result;
      }
      req->code = std::string(code->get_string());
      std::transform(req->code.begin(), req->code.end(), req->code.begin(),
                     [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
      result.room_code = req->code;
      break;
    }
    case in_type::game_answer: {
      const json::value* id = object.if_contains("questionId");
      if (id == nullptr || !id->is_string() || id->get_string().empty() ||
          id->get_string().size() > config.question_id_max_chars) {
        bad(result, "invalid_field",
            "questionId: a string of 1 to " + std::to_string(config.question_id_max_chars) +
                " characters");
        return result;
      }
      req->question_id = std::string(id->get_string());
      const json::value* option = object.if_contains("optionIndex");
      std::string why;
      if (option == nullptr || !range_field(*option, 0, static_cast<std::int64_t>(max_options) - 1,
                                            req->option_index, why)) {
        bad(result, "invalid_field", "optionIndex: " + (option ? why : std::string("required")));
        return result;
      }
      break;
    }
    case in_type::lobby_leave:
    case in_type::lobby_start:
      break;
  }
  result.cmd = std::move(req);
  return result;
}

}  // namespace

const std::vector<pack>& shipped_packs() {
  static const std::vector<pack> packs = parse_shipped_packs();
  return packs;
}

const pack* find_shipped_pack(std::string_view id) {
  for (const pack& p : shipped_packs()) {
    if (p.id == id) return &p;
  }
  return nullptr;
}

std::optional<settings_update> parse_settings(const quiz_config& config,
                                              const json::object& settings, std::string& field,
                                              std::string& reason) {
  settings_update update;
  for (const auto& member : settings) {
    const std::string_view key = member.key();
    const json::value& v = member.value();
    field = std::string(key);
    if (key == "rounds") {
      std::uint32_t n = 0;
      if (!range_field(v, 1, config.max_rounds, n, reason)) return std::nullopt;
      update.rounds = n;
    } else if (key == "secondsPerQuestion") {
      std::uint32_t n = 0;
      if (!range_field(v, config.min_seconds_per_question, config.max_seconds_per_question, n,
                       reason)) {
        return std::nullopt;
      }
      update.seconds_per_question = n;
    } else if (key == "pack") {
      if (!v.is_string() ||
          (v.get_string() != custom_pack_id && find_shipped_pack(v.get_string()) == nullptr)) {
        reason = "must name a pack of lobby:state's packs, or \"custom\"";
        return std::nullopt;
      }
      update.pack_id = std::string(v.get_string());
    } else if (key == "customPack") {
      if (!v.is_object()) {
        reason = "must be an object {name, questions}";
        return std::nullopt;
      }
      const json::object& object = v.get_object();
      pack custom;
      custom.id = std::string(custom_pack_id);
      for (const auto& inner : object) {
        if (inner.key() != "name" && inner.key() != "questions") {
          field = "customPack." + std::string(inner.key());
          reason = "unknown field (name, questions)";
          return std::nullopt;
        }
      }
      const json::value* name = object.if_contains("name");
      field = "customPack.name";
      if (name == nullptr) {
        reason = "required";
        return std::nullopt;
      }
      if (!text_field(*name, config.pack_name_max_chars, custom.name, reason)) {
        return std::nullopt;
      }
      const json::value* questions = object.if_contains("questions");
      field = "customPack.questions";
      if (questions == nullptr || !questions->is_array() || questions->get_array().empty() ||
          questions->get_array().size() > config.custom_max_questions) {
        reason = questions == nullptr
                     ? "required"
                     : "must be an array of 1 to " + std::to_string(config.custom_max_questions) +
                           " questions";
        return std::nullopt;
      }
      const json::array& list = questions->get_array();
      for (std::size_t i = 0; i < list.size(); ++i) {
        question q;
        field_error error;
        if (!parse_question(&config, list[i], "customPack.questions[" + std::to_string(i) + "]", q,
                            error)) {
          field = std::move(error.field);
          reason = std::move(error.reason);
          return std::nullopt;
        }
        custom.questions.push_back(std::move(q));
      }
      update.custom = std::move(custom);
    } else {
      reason = "unknown setting (rounds, secondsPerQuestion, pack, customPack)";
      return std::nullopt;
    }
  }
  field.clear();
  return update;
}

const pack* selected_pack(const settings& s) {
  if (s.pack_id == custom_pack_id) return s.custom ? &*s.custom : nullptr;
  return find_shipped_pack(s.pack_id);
}

bool apply_settings(const settings_update& update, settings& current, std::string& field,
                    std::string& reason) {
  settings next = current;
  if (update.custom) {
    next.custom = update.custom;
    next.pack_id = std::string(custom_pack_id);  // sending a pack selects it
  }
  if (update.pack_id) next.pack_id = *update.pack_id;
  if (update.seconds_per_question) next.seconds_per_question = *update.seconds_per_question;
  const pack* chosen = selected_pack(next);
  if (chosen == nullptr) {
    field = "pack";
    reason = "no custom pack was sent (customPack)";
    return false;
  }
  const auto available = static_cast<std::uint32_t>(chosen->questions.size());
  if (update.rounds) {
    if (*update.rounds > available) {
      field = "rounds";
      reason = "the pack has " + std::to_string(available) + " questions";
      return false;
    }
    next.rounds = *update.rounds;
  } else {
    next.rounds = std::min(next.rounds, available);  // a smaller pack shortens the game
  }
  current = std::move(next);
  return true;
}

decode_result decode(const quiz_config& config, std::string_view text, bool first_message) {
  try {
    return decode_unsafe(config, text, first_message);
  } catch (const std::exception&) {
    // Only allocation failures get here; answer with an error rather than unwinding into io.
    decode_result result;
    result.error = protocol_error{"invalid_message", "the message could not be read"};
    return result;
  }
}

std::string_view status_name(status s) noexcept {
  switch (s) {
    case status::waiting:
      return "waiting";
    case status::question:
      return "question";
    case status::result:
      return "result";
    case status::finished:
      return "finished";
  }
  return "waiting";
}

std::optional<status> parse_status(std::string_view name) noexcept {
  for (status s : {status::waiting, status::question, status::result, status::finished}) {
    if (status_name(s) == name) return s;
  }
  return std::nullopt;
}

std::string_view close_reason_name(close_reason r) noexcept {
  return r == close_reason::timer ? "timer" : "all_answered";
}

json::object frame_of(out_type type) {
  json::object frame;
  frame["type"] = out_type_names[index_of(type)];
  return frame;
}

std::string encode_error(std::string_view code, std::string_view message,
                         std::string_view request_type) {
  json::object frame = frame_of(out_type::error);
  frame["code"] = code;
  frame["message"] = message;
  if (!request_type.empty()) frame["requestType"] = request_type;
  return json::serialize(frame);
}

}  // namespace partyd::quiz
