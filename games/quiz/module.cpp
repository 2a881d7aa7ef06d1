#include "games/quiz/module.hpp"

#include <utility>

#include "games/common/session_options.hpp"
#include "games/quiz/codec.hpp"
#include "games/quiz/game.hpp"

namespace partyd {

namespace json = boost::json;

void quiz_module::declare_options(option_list& options, quiz_config& config) {
  options.add("quiz-max-players", config.max_players, "players in one quiz lobby");
  options.add("quiz-max-rounds", config.max_rounds, "largest number of rounds a host may set");
  options.add("quiz-result-pause-ms", config.result_pause_ms,
              "pause between a question's result and the next question");
  options.add("quiz-custom-max-questions", config.custom_max_questions,
              "questions in a host's custom pack");
  options.add("quiz-max-message-bytes", config.max_message_bytes,
              "largest quiz WebSocket message (must admit a custom pack)");
  declare_session_options(options, game_name, config.sessions);
}

std::string quiz_module::check_config(const quiz_config& config) {
  if (config.max_players < 1 || config.max_players > 64) {
    return "--quiz-max-players must be from 1 to 64";
  }
  if (config.max_rounds < 1) return "--quiz-max-rounds must be at least 1";
  if (config.result_pause_ms < 0) return "--quiz-result-pause-ms must not be negative";
  if (config.custom_max_questions < 1 || config.custom_max_questions > 1000) {
    return "--quiz-custom-max-questions must be from 1 to 1000";
  }
  if (config.max_message_bytes < 4096) return "--quiz-max-message-bytes must be at least 4096";
  return check_session_policy(game_name, config.sessions);
}

quiz_module::quiz_module(quiz_config config)
    : module_base(game_name, "/ws/quiz",
                  {quiz::role_names, quiz::in_type_names, quiz::out_type_names}, config) {
  (void)quiz::shipped_packs();  // parsed at start-up, not on a worker's first lobby:start
}

decode_result quiz_module::decode(std::string_view text, bool first_message) const {
  return quiz::decode(config(), text, first_message);
}

std::string quiz_module::encode_error(std::string_view code, std::string_view message) const {
  return quiz::encode_error(code, message);
}

std::string quiz_module::encode_request_error(std::string_view code, std::string_view message,
                                              std::string_view request_type) const {
  return quiz::encode_error(code, message, request_type);
}

std::size_t quiz_module::room_code_length() const noexcept { return quiz::room_code_length; }
std::string_view quiz_module::room_code_alphabet() const noexcept {
  return quiz::room_code_alphabet;
}

create_result quiz_module::create(const json::object& options, std::string_view code) const {
  create_result result;
  quiz::room_state state;
  state.code = std::string(code);
  state.config.rounds = std::min<std::uint32_t>(state.config.rounds, config().max_rounds);
  for (const auto& member : options) {
    if (member.key() != "settings") {
      result.error = protocol_error{"bad_request", "unknown option " + std::string(member.key()) +
                                                       " (a quiz lobby takes settings)"};
      return result;
    }
  }
  if (const json::value* settings = options.if_contains("settings")) {
    std::string field;
    std::string reason;
    std::optional<quiz::settings_update> update;
    if (settings->is_object()) {
      update = quiz::parse_settings(config(), settings->get_object(), field, reason);
    } else {
      reason = "must be an object";
    }
    if (!update || !quiz::apply_settings(*update, state.config, field, reason)) {
      result.error = protocol_error{"invalid_settings", "settings." + field + ": " + reason};
      return result;
    }
  }
  result.reply["code"] = state.code;
  result.reply["game"] = "quiz";
  result.instance = std::make_unique<quiz_game>(config(), std::move(state));
  return result;
}

std::unique_ptr<game> quiz_module::restore(std::string_view bytes) const {
  return quiz_restore(config(), bytes);
}

}  // namespace partyd
