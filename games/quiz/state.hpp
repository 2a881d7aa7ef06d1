// The quiz room's state (docs/protocol/quiz.md): plain data owned by one quiz_game and touched
// only by the room's worker. Players are known by the user id of their token; a member's
// connection is its session's logical id (engine/session.hpp), so a resume never changes it.
// Bounds: members <= quiz_config::max_players; questions <= settings.rounds <= max_rounds;
// answers <= players; a custom pack <= quiz_config::custom_max_questions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/types.hpp"

namespace partyd::quiz {

inline constexpr role_id player_role = 0;

enum class status : std::uint8_t { waiting, question, result, finished };

struct question {
  std::string prompt;
  std::vector<std::string> options;  // 2..6
  std::uint32_t correct_index = 0;
  std::string difficulty;  // "easy", "medium", "hard" or "" (not given)
};

struct pack {
  std::string id;
  std::string name;
  std::vector<question> questions;
};

struct settings {
  std::uint32_t rounds = 10;
  std::uint32_t seconds_per_question = 15;
  std::string pack_id = "en-es-basics";  // a shipped pack's id, or "custom"
  std::optional<pack> custom;            // the host's own pack (id "custom")
};

struct member {
  std::string user_id;
  std::string display_name;
  connection_id conn = 0;  // 0: the session ended during a game (kept until the game is over)
  bool connected = true;
};

// A player of the running (or last) game: who started it, with their totals.
struct player {
  std::string user_id;
  std::string display_name;
  std::int64_t score = 0;
  std::int64_t correct_ms = 0;  // sum of answer times of correct answers (the tie-break)
  bool left = false;            // sent lobby:leave during the game
};

struct answer {
  std::uint32_t option_index = 0;
  time_ms answered_at = 0;
};

enum class close_reason : std::uint8_t { timer, all_answered };

// One player's line of the last closed question (game:answer_result).
struct result_line {
  std::string user_id;
  std::string status;  // answered, no_answer, disconnected, left
  std::optional<std::uint32_t> option_index;
  bool correct = false;
  std::int64_t points = 0;
  std::optional<std::int64_t> answer_ms;
};

struct game_progress {
  std::uint64_t number = 0;         // games started in this lobby; question ids are g<N>q<R>
  std::vector<question> questions;  // drawn and shuffled at the start, one per round
  std::vector<player> players;
  std::uint32_t round = 0;  // 1-based; 0 before the first question
  time_ms started_at = 0;   // the current question's
  time_ms deadline = 0;
  std::map<std::string, answer> answers;  // by user id, the current question's
  // After the close (status result or finished):
  time_ms closed_at = 0;
  close_reason closed_by = close_reason::timer;
  std::vector<result_line> results;
  time_ms next_at = 0;  // the next question's start; 0 after the last
};

struct room_state {
  std::string code;
  std::string host_user_id;  // "" while the lobby has no member (an admin-created room)
  settings config;
  std::vector<member> members;  // in join order: the host role passes down this list
  status phase = status::waiting;
  game_progress game;
  bool closed = false;
};

}  // namespace partyd::quiz
