// Seeded simulation of Alias: 2,000 rooms, about 1,000 games played to the end, with random legal
// and illegal inputs (joins, leaves, drops and returns, team moves, stale and foreign swipes,
// pauses, restarts, garbage, time jumps, restores from the snapshot). After every step: team scores
// equal the sum of the WORD_RESULT points since the game started, no frame or view of anyone but
// the host holds the word on the host's screen, stateVersion never goes back, and a restore writes
// the same bytes (game_driver checks that, and that a step marked unchanged changed nothing).
#include <map>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "alias_harness.hpp"
#include "engine/rng.hpp"

namespace partyd::alias::testing {
namespace {

class simulation {
 public:
  explicit simulation(std::uint64_t seed)
      : rng_(seed),
        room_(json::object{{"roundDurationSec", 10 + static_cast<int>(seed % 3) * 5},
                           {"roundsPerTeam", 1 + static_cast<int>(seed % 2)},
                           {"scoreReviewSec", static_cast<int>(seed % 3)},
                           {"skipPenalty", seed % 4 == 0},
                           {"maxPlayers", 4 + static_cast<int>(seed % 7)}},
              alias_config{}, seed) {
    check(room_.created());
  }

  void run(int steps) {
    for (int i = 0; i < steps && !closed_; ++i) one_step();
  }
  int games_finished() const { return games_finished_; }
  std::uint64_t swipes() const { return swipes_; }

 private:
  std::uint64_t pick(std::uint64_t n) { return rng_.below(n); }

  connection_id host() const {
    const auto& people = room_.game().state().people;
    return !people.empty() && people.front().is_host ? people.front().conn : 0;
  }
  connection_id any_member() {
    const auto& people = room_.game().state().people;
    if (people.empty()) return 0;
    return people[pick(people.size())].conn;
  }

  void one_step() {
    const auto& s = room_.game().state();
    const connection_id h = host();
    const connection_id m = any_member();
    if (pick(3) != 0) {
      progress();
      invariants();
      return;
    }
    switch (pick(20)) {
      case 0:
      case 1: {
        const connection_id c = next_conn_++;
        check(room_.join(c, numbered("P", static_cast<long long>(c))));
        break;
      }
      case 2:
        if (m != 0 && pick(4) == 0) check(room_.command(m, "LEAVE_ROOM"));
        break;
      case 3:
        if (m != 0) check(room_.disconnect(m));
        break;
      case 4:
        if (m != 0) {
          check(room_.presence(m, pick(2) ? presence_stage::away : presence_stage::back));
        }
        break;
      case 5:
        check(room_.command(pick(3) ? h : m, "START_TEAM_SETUP",
                            {{"numTeams", static_cast<int>(1 + pick(4))}}));
        break;
      case 6:
      case 7:
        if (m != 0) {
          check(room_.join_team(m, numbered("team_", static_cast<long long>(1 + pick(3)))));
        }
        break;
      case 8:
        check(room_.command(pick(4) ? h : m, "CONFIRM_START"));
        break;
      case 9:
        if (pick(6) == 0) check(room_.command(h, "CANCEL_TEAM_SETUP"));
        break;
      case 10:
      case 11:
      case 12: {
        // The current word, a stale one, or someone else's swipe.
        std::string id = room_.word_id();
        if (pick(5) == 0) id = numbered("word_", static_cast<long long>(pick(s.word_serial + 2)));
        const connection_id who = pick(6) == 0 ? m : h;
        check(room_.command(who, "WORD_SWIPED",
                            {{"wordId", id}, {"action", pick(3) ? "guessed" : "skipped"}}));
        break;
      }
      case 13:
        check(room_.command(h, pick(2) ? "PAUSE_GAME" : "RESUME_GAME"));
        break;
      case 14:
        if (pick(10) == 0) check(room_.command(pick(3) ? h : m, "RESTART_GAME"));
        break;
      case 15:
        if (m != 0) {
          static const char* garbage[] = {"{", "[]", R"({"type":"NOPE"})",
                                          R"({"type":"JOIN_TEAM","payload":7})",
                                          R"({"type":"WORD_SWIPED","payload":{"wordId":1}})"};
          check(room_.send(m, garbage[pick(5)]));
        }
        break;
      case 16:
        if (pick(40) == 0) {
          room_.restore();
          check(room_.driver().engine_input(input_kind::created));
        }
        break;
      case 17:
        if (pick(300) == 0) {
          check(room_.command(h, "CLOSE_ROOM"));
        }
        break;
      default:
        for (const step_outcome& fired : room_.advance(static_cast<time_ms>(pick(3000)))) {
          check(fired);
        }
        break;
    }
    invariants();
  }

  // The next legal move towards the end of a game, so that the walk gets there.
  void progress() {
    const auto& s = room_.game().state();
    const connection_id h = host();
    std::uint32_t players = 0;
    for (const auto& p : s.people) players += p.is_host ? 0 : 1;
    switch (s.current) {
      case phase::room_created:
      case phase::lobby:
        if (players < 4 || h == 0) {
          const connection_id c = next_conn_++;
          check(room_.join(c, numbered("P", static_cast<long long>(c))));
        } else {
          check(room_.command(h, "START_TEAM_SETUP", {{"numTeams", 2}}));
        }
        return;
      case phase::team_setup: {
        for (const auto& p : s.people) {
          if (!p.is_host && p.team_id.empty()) {
            const bool first = s.teams[0].players.size() <= s.teams.back().players.size();
            check(room_.join_team(p.conn, first ? s.teams[0].id : s.teams.back().id));
            return;
          }
        }
        if (players < 2 * s.teams.size()) {
          const connection_id c = next_conn_++;
          check(room_.join(c, numbered("P", static_cast<long long>(c))));
        } else {
          check(room_.command(h, "CANCEL_TEAM_SETUP"));
        }
        return;
      }
      case phase::ready_to_start:
      case phase::ready_for_next:
        check(room_.command(h, "CONFIRM_START"));
        return;
      case phase::round_active:
        if (s.current_word && pick(3) != 0) {
          check(room_.command(
              h, "WORD_SWIPED",
              {{"wordId", room_.word_id()}, {"action", pick(4) ? "guessed" : "skipped"}}));
          return;
        }
        break;
      case phase::round_paused:
        check(room_.command(h, "RESUME_GAME"));
        return;
      case phase::final_results:
        check(room_.command(h, "RESTART_GAME"));
        return;
      default:
        break;
    }
    for (const step_outcome& fired : room_.advance(static_cast<time_ms>(500 + pick(2000)))) {
      check(fired);
    }
  }

  void check(const step_outcome& s) {
    const auto& state = room_.game().state();
    for (const effect& e : s.effects) {
      if (e.kind == effect_kind::close_room) closed_ = true;
      if (!e.frame) continue;
      const json::object f = step_outcome::parse(e);
      const std::string_view type = f.at("type").as_string();
      const json::object& payload = f.at("payload").as_object();
      if (const json::value* v = payload.if_contains("stateVersion")) {
        EXPECT_GE(static_cast<std::uint64_t>(v->as_int64()), last_version_) << type;
        last_version_ = static_cast<std::uint64_t>(v->as_int64());
      }
      if (type == "WORD_REVEALED") {
        // Only ever to the host of the moment.
        EXPECT_EQ(e.kind, effect_kind::send);
        EXPECT_EQ(e.conn, host());
        secret_ = "\"" + std::string(payload.at("wordText").as_string()) + "\"";
      }
      if (type == "WORD_RESULT") {
        points_[std::string(payload.at("teamId").as_string())] +=
            payload.at("pointsAwarded").as_int64();
        secret_.clear();  // said out loud now
        ++swipes_;
      }
      if (type == "ROUND_ENDED" || type == "GAME_RESTARTED") secret_.clear();
      if (type == "TEAM_SETUP_STARTED" || type == "TEAM_SETUP_CANCELLED" ||
          type == "GAME_RESTARTED" ||
          (type == "COUNTDOWN" && payload.at("roundNumber").as_int64() == 1 &&
           payload.contains("totalRounds"))) {
        points_.clear();  // new teams, or a new game
      }
      if (type == "GAME_ENDED") ++games_finished_;
      const bool to_host_only = e.kind == effect_kind::send && e.conn == host() && e.conn != 0;
      if (!to_host_only && !secret_.empty() && type != "WORD_RESULT") {
        EXPECT_EQ(e.frame->find(secret_), std::string::npos)
            << "a word reached a viewer other than the host: " << *e.frame;
      }
    }
    (void)state;
  }

  void invariants() {
    if (closed_) return;
    const auto& state = room_.game().state();
    for (const auto& t : state.teams) {
      const auto it = points_.find(t.id);
      EXPECT_EQ(t.score, it == points_.end() ? 0 : it->second) << t.id;
    }
    if (state.current_word && ++views_checked_ % 4 == 0) {
      const std::string quoted = "\"" + room_.word_text() + "\"";
      for (const auto& p : state.people) {
        const session_view view = room_.game().view_of(p.conn, room_.now());
        if (p.is_host) {
          EXPECT_NE(view.state_json.find(quoted), std::string::npos);
        } else {
          EXPECT_EQ(view.state_json.find(quoted), std::string::npos) << "view of " << p.id;
        }
      }
    }
  }

  room_rng rng_;
  alias_room room_;
  connection_id next_conn_ = 2;
  std::map<std::string, std::int64_t> points_;
  std::string secret_;  // the word on the host's screen, quoted as JSON
  std::uint64_t last_version_ = 0;
  std::uint64_t swipes_ = 0;
  int games_finished_ = 0;
  std::uint64_t views_checked_ = 0;
  bool closed_ = false;
};

// 2,000 rooms in a Release build (about 14 s; about 1,000 of them play a game to its end and
// restart); under the sanitizers' 5-15x a fifth of them.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr std::uint64_t simulated_rooms = 400;
#else
constexpr std::uint64_t simulated_rooms = 2000;
#endif

TEST(AliasSimulation, ThousandsOfRandomRoomsKeepScoresSecretsVersionsAndSnapshots) {
  int finished = 0;
  std::uint64_t swipes = 0;
  for (std::uint64_t seed = 1; seed <= simulated_rooms; ++seed) {
    simulation sim(seed);
    sim.run(150);
    finished += sim.games_finished();
    swipes += sim.swipes();
    if (::testing::Test::HasFailure()) {
      ADD_FAILURE() << "seed " << seed;
      return;
    }
  }
  // The random walk does reach the end of games and does score words.
  RecordProperty("games_finished", finished);
  RecordProperty("words_swiped", static_cast<int>(swipes));
  EXPECT_GT(finished, static_cast<int>(simulated_rooms / 4));
  EXPECT_GT(swipes, simulated_rooms * 10);
}

}  // namespace
}  // namespace partyd::alias::testing
