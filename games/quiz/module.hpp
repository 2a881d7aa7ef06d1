// The quiz game module (docs/protocol/quiz.md): its limits (quiz_config), wire names, create and
// restore. Lobbies are created by an authenticated user's first message, lobby:create
// (decode_result::creates_room), or through the admin API; every connection needs a token
// (requires_auth) and gets a session (docs/protocol/sessions.md).
// Threads: immutable after start-up; decode/encode_error run on io threads, create on an io
// thread or the admin thread, restore at start-up.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "engine/game_factory.hpp"
#include "engine/session.hpp"
#include "games/common/module_base.hpp"

namespace partyd {

inline session_policy quiz_session_policy() {
  session_policy policy;
  policy.always = true;  // every quiz client speaks the session layer
  return policy;
}

struct quiz_config {
  // A lobby:settings with a custom pack of custom_max_questions at the longest fields.
  std::size_t max_message_bytes = 262144;
  std::uint32_t max_players = 16;
  std::uint32_t max_rounds = 50;
  std::uint32_t min_seconds_per_question = 5;
  std::uint32_t max_seconds_per_question = 120;
  time_ms result_pause_ms = 3000;  // the seed's 3 s between a result and the next question
  std::size_t custom_max_questions = 100;
  std::size_t prompt_max_chars = 300;  // code points
  std::size_t option_max_chars = 100;
  std::size_t pack_name_max_chars = 60;
  std::size_t code_max_chars = 16;
  std::size_t question_id_max_chars = 32;
  std::size_t display_name_max_chars = 64;  // a token's longer name is cut to this
  session_policy sessions = quiz_session_policy();

  // The largest frame a room sends: a viewer's state (lobby, question and last result) with every
  // member at the longest ids and names a token can carry (256 bytes each, escaped at most 6x).
  std::size_t largest_reply_bytes() const noexcept {
    return 32768 + std::size_t{max_players} * 8192;
  }
};

class quiz_module : public module_base<quiz_config> {
 public:
  static constexpr std::string_view game_name = "quiz";
  static void declare_options(option_list& options, quiz_config& config);
  static std::string check_config(const quiz_config& config);

  explicit quiz_module(quiz_config config = {});

  decode_result decode(std::string_view text, bool first_message) const override;
  std::string encode_error(std::string_view code, std::string_view message) const override;
  std::string encode_request_error(std::string_view code, std::string_view message,
                                   std::string_view request_type) const override;

  std::size_t room_code_length() const noexcept override;
  std::string_view room_code_alphabet() const noexcept override;
  bool requires_auth() const noexcept override { return true; }
  const session_policy* sessions() const noexcept override { return &config().sessions; }

  // `options` may hold `settings` (as lobby:create's); the reply names the lobby's code.
  create_result create(const boost::json::object& options, std::string_view code) const override;
  std::unique_ptr<game> restore(std::string_view bytes) const override;
};

}  // namespace partyd
