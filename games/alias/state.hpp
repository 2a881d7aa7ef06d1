// The Alias room's state (docs/protocol/alias.md): plain data owned by one alias_game and touched
// only by the room's worker. Participants are known by the ids the room gave them ("host_1",
// "player_001"); a participant's connection is its session's logical id (engine/session.hpp), so a
// resume never changes it.
// Bounds: players <= alias_config::max_players (10); teams 2..4; words of a pack <=
// alias_config::custom_max_words (custom) or the shipped pack's size; rounds <= teams x 10.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/types.hpp"

namespace partyd::alias {

inline constexpr role_id host_role = 0;
inline constexpr role_id player_role = 1;

// The 13 room states of the design (seed 004, 1.1), in its order.
enum class phase : std::uint8_t {
  room_created,
  lobby,
  team_setup,
  ready_to_start,
  round_starting,
  round_active,
  round_paused,
  round_ended,
  score_review,
  ready_for_next,
  game_ended,
  final_results,
  room_closed,
};
inline constexpr std::size_t phase_count = 13;

struct word {
  std::string text;
  std::string difficulty;  // "easy", "medium" or "hard"
};

struct word_pack {
  std::string id;
  std::string name;
  std::string language;
  std::vector<word> words;
};

struct settings {
  std::uint32_t max_players = 10;
  std::uint32_t round_duration_sec = 60;
  std::uint32_t rounds_per_team = 2;  // every team explains this many rounds
  std::uint32_t score_review_sec = 5;
  bool skip_penalty = false;  // a skipped word scores -1 instead of 0
  std::string word_pack_id = "en-animals";
  std::optional<word_pack> custom;  // the host's own pack (id "custom"), given at creation
};

struct participant {
  std::string id;  // "host_1" or "player_001"
  std::string name;
  std::string avatar_color;
  connection_id conn = 0;
  bool connected = true;
  bool is_host = false;
  std::string team_id;  // "" when on no team (the host, a spectator, before team setup)
  // Game figures: words explained as the round's explainer.
  std::uint32_t explained_guessed = 0;
  std::int64_t explained_ms = 0;  // active time of the rounds explained
};

struct team {
  std::string id;  // team_1..team_4
  std::string name;
  std::string color;
  std::vector<std::string> players;  // participant ids, in the order they joined the team
  std::int64_t score = 0;
  std::uint32_t turns = 0;  // rounds explained so far: the next explainer is players[turns % n]
};

enum class end_reason : std::uint8_t { timer_expired, pack_exhausted };

struct round_figures {
  std::uint32_t number = 0;
  std::string team_id;
  std::string explainer_id;  // "" when the team had nobody to explain
  std::uint32_t guessed = 0;
  std::uint32_t skipped = 0;
  std::int64_t points = 0;
  std::int64_t active_ms = 0;  // time the round clock ran (pauses excluded)
  end_reason ended_by = end_reason::timer_expired;
};

struct room_state {
  std::string code;
  phase current = phase::room_created;
  std::uint64_t state_version = 0;  // moves with every transition (seed 004, 1.3)
  settings config;
  std::vector<participant> people;  // the host first, then players in join order
  std::uint32_t next_player_number = 1;
  std::uint32_t next_color = 0;
  std::vector<team> teams;

  // The game: rounds are numbered from 1; round r is team (r - 1) % teams' turn.
  std::uint32_t round = 0;
  std::uint32_t total_rounds = 0;
  time_ms game_started_at = 0;
  std::uint32_t words_played = 0;
  time_ms round_starts_at = 0;  // ROUND_STARTING: the end of the 3-2-1
  std::string active_team_id;
  std::string explainer_id;
  time_ms round_deadline = 0;     // ROUND_ACTIVE: the absolute end of the round
  time_ms remaining_ms = 0;       // ROUND_PAUSED: exactly what was left at the pause
  bool paused_by_system = false;  // paused because the host was gone, not by the host
  time_ms review_ends_at = 0;     // SCORE_REVIEW: when the next step comes
  time_ms host_gone_at = 0;       // the host's connection dropped (0: connected)
  // Words: the pack's indices in the room rng's order; the next word is order[cursor].
  std::vector<std::uint32_t> order;
  std::uint32_t cursor = 0;
  std::uint32_t word_serial = 0;              // word ids are "word_<serial>"
  std::optional<std::uint32_t> current_word;  // a pack index, while a word is shown
  time_ms word_shown_at = 0;
  round_figures last_round;  // the round being played, then the last one ended
  std::vector<round_figures> history;
};

}  // namespace partyd::alias
