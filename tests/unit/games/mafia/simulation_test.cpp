// Seeded simulation of whole Mafia games: players of random rooms (4 to 12 seats) take random
// actions, legal and illegal, chat, vote, drop and come back, while the clock runs the phases.
// For every viewer, every frame before the game's end and the viewer's own state (view_of, what a
// resume shows) are checked: no other player's role, no night choice and no inspect result that
// is not the viewer's own. The same seed replays to the same frames.
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "mafia_harness.hpp"

namespace partyd::mafia::testing {
namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int games = 30;
#else
constexpr int games = 150;
#endif

// Finds a "role"/"roles"/"mafia"/"mafiaVotes" member anywhere in `v`; `path` says where.
void keys_in(const json::value& v, const std::string& path,
             std::vector<std::pair<std::string, const json::value*>>& found) {
  if (v.is_object()) {
    for (const auto& m : v.get_object()) {
      const std::string here = path + "." + std::string(m.key());
      if (m.key() == "role" || m.key() == "roles" || m.key() == "mafia" ||
          m.key() == "mafiaVotes" || m.key() == "inspectResult" || m.key() == "action") {
        found.emplace_back(here, &m.value());
      }
      keys_in(m.value(), here, found);
    }
  } else if (v.is_array()) {
    for (const auto& item : v.get_array()) keys_in(item, path + "[]", found);
  }
}

// What viewer `conn` (of role `mine`) may see before the game ends.
std::string leak_in(const json::object& frame, const std::string& mine) {
  const std::string type(frame.at("type").as_string());
  std::vector<std::pair<std::string, const json::value*>> found;
  const json::value whole(frame);  // `found` points into it: it must outlive the checks below
  keys_in(whole, "", found);
  for (const auto& [path, value] : found) {
    const bool own_role = (path == ".payload.role" && type == "game:role") ||
                          path == ".payload.gameState.you.role" || path == ".you.role";
    if (own_role) {
      if (!value->is_string() || value->get_string() != mine) return "another role at " + path;
      continue;
    }
    const bool mafia_only = path == ".payload.mafia" || path == ".payload.gameState.you.mafia" ||
                            path == ".you.mafia" || path == ".payload.votes" ||
                            path == ".payload.gameState.you.mafiaVotes" ||
                            path == ".you.mafiaVotes";
    if (mafia_only && mine == "mafia") continue;
    if ((path == ".payload.inspectResult" && type == "action:result") && mine == "detective") {
      continue;
    }
    if ((path == ".payload.action" && type == "action:accepted") ||
        path == ".payload.gameState.you.action" || path == ".you.action") {
      continue;  // the viewer's own choice, sent to the viewer alone
    }
    return "private member " + path + " in " + type;
  }
  if (type == "action:mafiaVotes" && mine != "mafia") return "mafia votes to a " + mine;
  if (type == "action:result" && mine != "detective") return "an inspect result to a " + mine;
  if (type == "chat:message" && frame.at("payload").at("channel").as_string() == "mafia" &&
      mine != "mafia") {
    return "mafia chat to a " + mine;
  }
  return {};
}

struct outcome {
  std::vector<std::string> frames;  // every frame to every viewer, for the replay check
  bool ended = false;
  std::string winner;
};

outcome play(std::uint64_t seed) {
  std::mt19937_64 random(seed);
  const int players = 4 + static_cast<int>(random() % 9);
  mafia_config config = fast_config();
  mafia_table room(
      json::object{{"maxPlayers", 12},
                   {"settings", {{"nightTime", 3}, {"discussionTime", 2}, {"voteTime", 3}}}},
      config, seed);
  room.seat_and_start(players);
  std::map<connection_id, std::string> role;
  for (connection_id c = 1; c <= static_cast<connection_id>(players); ++c)
    role[c] = room.role_of(c);
  std::map<connection_id, std::size_t> checked;
  std::set<connection_id> done;  // viewers whose game:end arrived
  int round_of_checks = 0;
  auto check_viewers = [&] {
    const bool views = ++round_of_checks % 8 == 0;
    for (connection_id c = 1; c <= static_cast<connection_id>(players); ++c) {
      const auto& inbox = room.inbox(c);
      for (std::size_t i = checked[c]; i < inbox.size(); ++i) {
        if (inbox[i].at("type").as_string() == "game:end") done.insert(c);
        if (done.count(c)) continue;
        const std::string leak = leak_in(inbox[i], role[c]);
        EXPECT_EQ(leak, "") << "seed " << seed << " viewer " << c << ": "
                            << json::serialize(inbox[i]);
      }
      checked[c] = inbox.size();
      if (views && !done.count(c) && room.game().state().current != phase::ended) {
        const json::object view =
            json::parse(room.game().view_of(c, room.now()).state_json).as_object();
        const json::object as_resume{{"type", "auth:reconnect"},
                                     {"payload", json::object{{"gameState", view}}}};
        EXPECT_EQ(leak_in(as_resume, role[c]), "")
            << "seed " << seed << " view of " << c << ": " << json::serialize(view);
        EXPECT_FALSE(view.contains("roles")) << "seed " << seed;
      }
    }
  };
  const std::array<std::string_view, 3> actions = {"action:mafiaKill", "action:doctorSave",
                                                   "action:detectiveInspect"};
  std::set<connection_id> away;
  for (int step = 0; step < 400 && room.game().state().current != phase::ended; ++step) {
    const connection_id actor = 1 + random() % static_cast<std::uint64_t>(players);
    const connection_id target = 1 + random() % static_cast<std::uint64_t>(players);
    switch (random() % 8) {
      case 0:
      case 1:
        room.act(actor, actions[random() % actions.size()], target);
        break;
      case 2:
        room.vote(actor, random() % 5 == 0 ? std::nullopt : std::optional<connection_id>(target));
        break;
      case 3:
        room.chat(actor, "message " + std::to_string(step));
        break;
      case 4:
        if (random() % 6 == 0) {
          if (away.insert(actor).second) {
            room.presence(actor, presence_stage::away);
          } else {
            room.presence(actor, presence_stage::back);
            away.erase(actor);
          }
        }
        break;
      case 5:
        if (random() % 40 == 0 && room.bound(actor)) room.disconnect(actor);  // the grace ran out
        break;
      default:
        room.advance(static_cast<time_ms>(random() % 1500));
        break;
    }
    check_viewers();
  }
  // Then a plain game to its end: the mafia kill the first of the others, the town votes for
  // the first living player.
  for (int i = 0; i < 200 && room.game().state().current != phase::ended; ++i) {
    const auto living = room.living();
    if (room.game().state().current == phase::night) {
      for (connection_id m : room.living(role::mafia)) {
        for (connection_id v : living) {
          if (role[v] != "mafia") {
            room.act(m, "action:mafiaKill", v);
            break;
          }
        }
      }
    } else if (room.game().state().current == phase::voting && living.size() >= 2) {
      for (connection_id v : room.living()) {
        if (room.game().state().current != phase::voting) break;
        room.vote(v, v == living[0] ? living[1] : living[0]);
      }
    }
    room.advance(1000);
    check_viewers();
  }
  outcome result;
  result.ended = room.game().state().current == phase::ended;
  result.winner = room.game().state().winner;
  for (connection_id c = 1; c <= static_cast<connection_id>(players); ++c) {
    for (const auto& f : room.inbox(c)) result.frames.push_back(json::serialize(f));
  }
  return result;
}

TEST(MafiaSimulation, NoViewerSeesAnotherRoleOrChoiceAndTheSameSeedReplays) {
  int ended = 0;
  std::map<std::string, int> winners;
  for (int g = 0; g < games; ++g) {
    const outcome first = play(1000 + static_cast<std::uint64_t>(g));
    if (first.ended) {
      ++ended;
      ++winners[first.winner];
    }
    if (g % 25 == 0) {
      const outcome again = play(1000 + static_cast<std::uint64_t>(g));
      EXPECT_EQ(again.frames, first.frames) << "seed " << 1000 + g << " did not replay";
    }
  }
  // Idle players are voted out or abandoned sooner or later: games end, both sides win some.
  EXPECT_GE(ended, games * 9 / 10);
  EXPECT_GT(winners["mafia"], 0);
  EXPECT_GT(winners["villagers"], 0);
}

}  // namespace
}  // namespace partyd::mafia::testing
