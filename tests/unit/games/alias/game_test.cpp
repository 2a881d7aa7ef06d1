// Alias's rules on a manual clock (docs/protocol/alias.md): creation, lobby and teams, the 3-2-1,
// swipes and scores, ticks from absolute deadlines, pause and resume, the host leaving and coming
// back, pack exhaustion, the end of the game, restart, restores, and that no viewer but the host
// ever sees a word before its WORD_RESULT.
#include <algorithm>
#include <string>

#include <gtest/gtest.h>

#include "alias_harness.hpp"
#include "games/common/checksum.hpp"

namespace partyd::alias::testing {
namespace {

std::string phase_of(const alias_room& room) {
  return std::string(phase_name(room.game().state().current));
}

json::object custom_pack(int words) {
  json::array list;
  for (int i = 0; i < words; ++i) list.emplace_back(numbered("Word", i));
  return json::object{{"name", "Mine"}, {"words", std::move(list)}};
}

TEST(AliasCreate, CreateRoomAnswersTheHostWithTheRoomAndItsLink) {
  alias_room room(json::object{{"hostName", "Alice"}, {"maxPlayers", 6}});
  const auto frames = frames_for(room.created(), host_conn);
  ASSERT_EQ(frames.size(), 1u);
  const json::object& f = frames[0];
  EXPECT_EQ(str(f.at("type")), "ROOM_CREATED");
  EXPECT_EQ(str(f.at("roomId")), room_code);
  EXPECT_EQ(str(f.at("version")), "1.0");
  EXPECT_EQ(str(f.at("broadcast")), "actor");
  EXPECT_EQ(f.at("timestamp").as_int64(), t0);
  const json::object& p = f.at("payload").as_object();
  EXPECT_EQ(str(p.at("qrCodeUrl")), "http://localhost:8080/alias/" + std::string(room_code));
  EXPECT_EQ(str(p.at("hostId")), "host_1");
  EXPECT_EQ(str(p.at("hostName")), "Alice");
  EXPECT_EQ(p.at("maxPlayers").as_int64(), 6);
  EXPECT_EQ(str(p.at("currentState")), "ROOM_CREATED");
  EXPECT_EQ(p.at("stateVersion").as_int64(), 1);
  EXPECT_EQ(room.created().of_kind(effect_kind::bind).size(), 1u);
  EXPECT_EQ(room.created().of_kind(effect_kind::bind)[0]->role, host_role);
  EXPECT_FALSE(room.created().of_kind(effect_kind::bind)[0]->rate_limited);  // hosts are exempt
  EXPECT_TRUE(room.created().important());
}

TEST(AliasCreate, BadSettingsAreRefusedByFieldBeforeARoomExists) {
  alias_module module;
  auto refused = [&](const std::string& payload) {
    const decode_result d =
        module.decode(R"({"type":"CREATE_ROOM","payload":)" + payload + "}", true);
    EXPECT_TRUE(d.error) << payload;
    EXPECT_FALSE(d.creates_room);
    return d.error.code + " " + d.error.message;
  };
  EXPECT_EQ(refused(R"({})"), "VALIDATION_FAILED payload.hostName: required");
  EXPECT_EQ(refused(R"({"hostName":"A","maxPlayers":11})"),
            "VALIDATION_FAILED payload.maxPlayers: must be an integer from 2 to 10");
  EXPECT_EQ(refused(R"({"hostName":"A","roundDurationSec":5})"),
            "VALIDATION_FAILED payload.roundDurationSec: must be an integer from 10 to 300");
  EXPECT_NE(refused(R"({"hostName":"A","wordPackId":"nope"})")
                .find("VALIDATION_FAILED payload.wordPackId: must name a shipped pack"),
            std::string::npos);
  EXPECT_EQ(refused(R"({"hostName":"A","customPack":{"name":"x","words":["a","b"]}})"),
            "VALIDATION_FAILED payload.customPack.words: must be an array of 10 to 1000 words");
  EXPECT_EQ(refused(R"({"hostName":"A","customPack":{"name":"x","words":["a","b","c","d","e",
                "f","g","h","i","A"]}})"),
            "VALIDATION_FAILED payload.customPack.words[9]: repeats another word");
  EXPECT_EQ(refused(R"({"hostName":"A","customPack":{"name":"x","words":["a","b","c","d","e",
                "f","g","h","i",{"text":"j","difficulty":"extreme"}]}})"),
            "VALIDATION_FAILED payload.customPack.words[9].difficulty: must be \"easy\", "
            "\"medium\" or \"hard\"");
  EXPECT_EQ(refused(R"({"hostName":"A","wordPackId":"custom"})"),
            "VALIDATION_FAILED payload.wordPackId: \"custom\" needs a customPack");
}

TEST(AliasCreate, ShippedPacksHaveHundredsOfWordsWithDifficulties) {
  const auto& packs = shipped_packs();
  ASSERT_GE(packs.size(), 2u);
  for (const word_pack& p : packs) {
    EXPECT_GE(p.words.size(), 300u) << p.id;
    for (const word& w : p.words) {
      EXPECT_TRUE(w.difficulty == "easy" || w.difficulty == "medium" || w.difficulty == "hard");
      EXPECT_FALSE(w.text.empty());
    }
  }
  EXPECT_NE(find_shipped_pack("en-animals"), nullptr);
}

TEST(AliasLobby, APlayerJoinsAndEveryoneHearsItWithTheCountAndColour) {
  alias_room room;
  const step_outcome s = room.join(2, "Bob");
  const auto mine = s.to(2);
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(str(mine[0].at("type")), "ROOM_JOINED");
  EXPECT_EQ(str(mine[0].at("payload").at("playerId")), "player_001");
  EXPECT_EQ(str(mine[0].at("payload").at("room").at("you").at("role")), "player");
  const auto all = s.broadcasts();
  ASSERT_EQ(all.size(), 1u);
  const json::object& joined = all[0].second;
  EXPECT_EQ(str(joined.at("type")), "PLAYER_JOINED");
  EXPECT_EQ(str(joined.at("broadcast")), "all");
  EXPECT_EQ(str(joined.at("payload").at("playerName")), "Bob");
  EXPECT_EQ(joined.at("payload").at("playerCount").as_int64(), 1);
  EXPECT_EQ(str(joined.at("payload").at("avatarColor")).size(), 7u);
  EXPECT_EQ(str(joined.at("payload").at("currentState")), "LOBBY");
  EXPECT_EQ(joined.at("payload").at("stateVersion").as_int64(), 2);
  EXPECT_EQ(phase_of(room), "LOBBY");
  EXPECT_EQ(room.join(3, "Cy").broadcasts()[0].second.at("payload").at("playerCount").as_int64(),
            2);
}

TEST(AliasLobby, AFullRoomRefusesTheNextPlayer) {
  alias_room room(json::object{{"maxPlayers", 2}});
  room.join(2, "A");
  room.join(3, "B");
  const step_outcome s = room.join(4, "C");
  EXPECT_EQ(error_code(s, 4), "ROOM_FULL");
  ASSERT_NE(s.close_of(4), nullptr);
  EXPECT_EQ(room.game().state().people.size(), 3u);
}

TEST(AliasLobby, LeavingIsVoluntaryAndASessionsEndIsADisconnect) {
  alias_room room;
  room.join(2, "A");
  room.join(3, "B");
  const step_outcome left = room.command(2, "LEAVE_ROOM");
  ASSERT_NE(left.close_of(2), nullptr);
  const auto frames = left.broadcasts();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(str(frames[0].second.at("type")), "PLAYER_LEFT");
  EXPECT_EQ(str(frames[0].second.at("payload").at("reason")), "voluntary");
  EXPECT_EQ(frames[0].second.at("payload").at("playerCount").as_int64(), 1);
  const step_outcome gone = room.disconnect(3);
  EXPECT_EQ(str(gone.broadcasts()[0].second.at("payload").at("reason")), "disconnected");
  EXPECT_EQ(room.game().state().people.size(), 1u);
}

TEST(AliasLobby, OnlyTheHostRunsTheRoomAndTheTableRefusesWhatDoesNotFit) {
  alias_room room;
  EXPECT_EQ(error_code(room.command(host_conn, "START_TEAM_SETUP", {{"numTeams", 2}}), host_conn),
            "INVALID_TRANSITION");  // ROOM_CREATED: nobody to set up
  room.join(2, "A");
  EXPECT_EQ(error_code(room.command(2, "START_TEAM_SETUP", {{"numTeams", 2}}), 2), "UNAUTHORIZED");
  EXPECT_EQ(error_code(room.command(2, "CLOSE_ROOM"), 2), "UNAUTHORIZED");
  EXPECT_EQ(error_code(room.command(host_conn, "CONFIRM_START"), host_conn), "INVALID_TRANSITION");
  EXPECT_EQ(error_code(room.command(host_conn, "PAUSE_GAME"), host_conn), "INVALID_TRANSITION");
  const step_outcome refused = room.command(host_conn, "PAUSE_GAME");
  EXPECT_TRUE(refused.unchanged);
  const json::object error = refused.to(host_conn).at(0);
  EXPECT_EQ(str(error.at("broadcast")), "actor");
  EXPECT_EQ(str(error.at("payload").at("requestType")), "PAUSE_GAME");
  EXPECT_EQ(str(error.at("payload").at("currentState")), "LOBBY");
  EXPECT_TRUE(refused.broadcasts().empty());
}

TEST(AliasLobby, AnActorIdThatIsNotTheSeatIsRefused) {
  alias_room room;
  room.join(2, "A");
  const step_outcome s =
      room.send(2, R"({"type":"JOIN_TEAM","actorId":"host_1","payload":{"teamId":"team_1"}})");
  EXPECT_EQ(error_code(s, 2), "UNAUTHORIZED");
  EXPECT_TRUE(s.unchanged);
}

TEST(AliasTeams, SetupBalancesAtTwoEachAndUnbalancesOnAJoin) {
  alias_room room;
  for (connection_id c = 2; c <= 5; ++c) room.join(c, numbered("P", static_cast<long long>(c)));
  const step_outcome setup = room.command(host_conn, "START_TEAM_SETUP", {{"numTeams", 2}});
  const json::object started = setup.broadcasts().at(0).second;
  EXPECT_EQ(str(started.at("type")), "TEAM_SETUP_STARTED");
  const json::array& teams = started.at("payload").at("teams").as_array();
  ASSERT_EQ(teams.size(), 2u);
  EXPECT_EQ(str(teams[0].at("name")), "Team Red");
  EXPECT_EQ(str(teams[1].at("color")), "#0000FF");
  // Again: already in TEAM_SETUP, a no-op.
  const step_outcome again = room.command(host_conn, "START_TEAM_SETUP", {{"numTeams", 3}});
  EXPECT_TRUE(again.unchanged);
  EXPECT_TRUE(again.effects.empty());
  room.join_team(2, "team_1");
  room.join_team(3, "team_1");
  room.join_team(4, "team_2");
  EXPECT_EQ(phase_of(room), "TEAM_SETUP");
  const step_outcome last = room.join_team(5, "team_2");
  const auto frames = last.broadcasts();
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(str(frames[0].second.at("type")), "PLAYER_ASSIGNED_TEAM");
  EXPECT_EQ(str(frames[1].second.at("type")), "TEAMS_BALANCED");
  EXPECT_TRUE(frames[1].second.at("payload").at("balanced").as_bool());
  EXPECT_EQ(phase_of(room), "READY_TO_START");
  // Joining a team one is on: a no-op.
  EXPECT_TRUE(room.join_team(5, "team_2").unchanged);
  // A new player is unassigned: back to TEAM_SETUP, and everyone is told.
  const step_outcome newcomer = room.join(6, "Late");
  EXPECT_EQ(phase_of(room), "TEAM_SETUP");
  const auto told = newcomer.broadcasts();
  EXPECT_EQ(str(told.back().second.at("type")), "TEAMS_BALANCED");
  EXPECT_FALSE(told.back().second.at("payload").at("balanced").as_bool());
  // 3 against 2 is balanced (sizes differ by one).
  room.join_team(6, "team_1");
  EXPECT_EQ(phase_of(room), "READY_TO_START");
}

TEST(AliasTeams, UnevenTeamsOrAnUnknownTeamDoNotBalance) {
  alias_room room;
  for (connection_id c = 2; c <= 5; ++c) room.join(c, numbered("P", static_cast<long long>(c)));
  room.command(host_conn, "START_TEAM_SETUP", {{"numTeams", 2}});
  for (connection_id c = 2; c <= 4; ++c) room.join_team(c, "team_1");
  room.join_team(5, "team_2");
  EXPECT_EQ(phase_of(room), "TEAM_SETUP");  // 3 against 1
  EXPECT_EQ(error_code(room.join_team(5, "team_9"), 5), "VALIDATION_FAILED");
  EXPECT_EQ(error_code(room.join_team(host_conn, "team_1"), host_conn), "UNAUTHORIZED");
  // The host may place a player.
  room.command(host_conn, "JOIN_TEAM", {{"teamId", "team_2"}, {"playerId", "player_003"}});
  EXPECT_EQ(phase_of(room), "READY_TO_START");
  EXPECT_EQ(
      error_code(room.command(2, "JOIN_TEAM", {{"teamId", "team_2"}, {"playerId", "player_002"}}),
                 2),
      "UNAUTHORIZED");
}

TEST(AliasTeams, CancelReturnsToTheLobbyWithoutTeams) {
  alias_room room;
  room.ready_teams();
  const step_outcome s = room.command(host_conn, "CANCEL_TEAM_SETUP");
  EXPECT_EQ(str(s.broadcasts().at(0).second.at("type")), "TEAM_SETUP_CANCELLED");
  EXPECT_EQ(phase_of(room), "LOBBY");
  EXPECT_TRUE(room.game().state().teams.empty());
  EXPECT_TRUE(room.command(host_conn, "CANCEL_TEAM_SETUP").unchanged);  // a no-op in LOBBY
}

TEST(AliasRound, CountdownThenTheRoundStartsReliablyAndOnlyTheHostSeesTheWord) {
  alias_room room;
  room.ready_teams();
  const step_outcome confirm = room.command(host_conn, "CONFIRM_START");
  EXPECT_FALSE(confirm.important());  // written at once, not held (alias.md, "Restarts")
  EXPECT_FALSE(confirm.of_kind(effect_kind::persist).empty());
  const json::object count = confirm.broadcasts().at(0).second;
  EXPECT_EQ(str(count.at("type")), "COUNTDOWN");
  EXPECT_EQ(count.at("payload").at("secondsLeft").as_int64(), 3);
  EXPECT_EQ(phase_of(room), "ROUND_STARTING");
  auto ticks = room.advance(1000);
  ASSERT_EQ(ticks.size(), 1u);
  EXPECT_EQ(ticks[0].broadcasts().at(0).second.at("payload").at("secondsLeft").as_int64(), 2);
  EXPECT_TRUE(ticks[0].unchanged);
  room.advance(1000);
  const auto go = room.advance(1000);
  ASSERT_EQ(go.size(), 1u);
  const auto started = go[0].of_kind(effect_kind::send_roles);
  ASSERT_FALSE(started.empty());
  EXPECT_TRUE(started[0]->reliable);
  const json::object round = step_outcome::parse(*started[0]);
  EXPECT_EQ(str(round.at("type")), "ROUND_STARTED");
  const json::object& p = round.at("payload").as_object();
  EXPECT_EQ(p.at("roundNumber").as_int64(), 1);
  EXPECT_EQ(str(p.at("activeTeamId")), "team_1");
  EXPECT_EQ(str(p.at("explainerPlayerId")), "player_001");
  EXPECT_EQ(p.at("roundDurationSec").as_int64(), 60);
  EXPECT_EQ(str(p.at("wordPackId")), "en-animals");
  EXPECT_EQ(p.at("roundEndsAt").as_int64(), room.now() + 60000);
  const auto word = go[0].to(host_conn);
  ASSERT_EQ(word.size(), 1u);
  EXPECT_EQ(str(word[0].at("type")), "WORD_REVEALED");
  EXPECT_EQ(str(word[0].at("payload").at("wordId")), "word_1");
  EXPECT_EQ(str(word[0].at("payload").at("wordText")), room.word_text());
  for (connection_id c = 2; c <= 5; ++c) EXPECT_TRUE(go[0].to(c).empty());
  EXPECT_EQ(phase_of(room), "ROUND_ACTIVE");
}

TEST(AliasRound, SwipesScoreAndTheNextWordFollows) {
  alias_room room;
  room.ready_teams();
  room.start_round();
  const std::string first_text = room.word_text();
  const step_outcome guessed = room.swipe(true);
  const json::object result = guessed.broadcasts().at(0).second;
  EXPECT_EQ(str(result.at("type")), "WORD_RESULT");
  const json::object& p = result.at("payload").as_object();
  EXPECT_EQ(str(p.at("wordId")), "word_1");
  EXPECT_EQ(str(p.at("wordText")), first_text);
  EXPECT_EQ(str(p.at("action")), "guessed");
  EXPECT_EQ(str(p.at("teamId")), "team_1");
  EXPECT_EQ(p.at("pointsAwarded").as_int64(), 1);
  EXPECT_EQ(p.at("newScore").as_int64(), 1);
  EXPECT_EQ(str(guessed.to(host_conn).at(0).at("payload").at("wordId")), "word_2");
  EXPECT_FALSE(guessed.of_kind(effect_kind::persist).empty());
  const step_outcome skipped = room.swipe(false);
  EXPECT_EQ(skipped.broadcasts().at(0).second.at("payload").at("pointsAwarded").as_int64(), 0);
  EXPECT_EQ(room.game().state().teams[0].score, 1);
}

TEST(AliasRound, ASkipCostsAPointWithThePenalty) {
  alias_room room(json::object{{"skipPenalty", true}});
  room.ready_teams();
  room.start_round();
  const step_outcome skipped = room.swipe(false);
  EXPECT_EQ(skipped.broadcasts().at(0).second.at("payload").at("pointsAwarded").as_int64(), -1);
  EXPECT_EQ(room.game().state().teams[0].score, -1);
}

TEST(AliasRound, TwoSwipesOfOneWordTheFirstWinsAndPlayersCannotSwipe) {
  alias_room room;
  room.ready_teams();
  room.start_round();
  const std::string id = room.word_id();
  const std::string swipe =
      R"({"type":"WORD_SWIPED","payload":{"wordId":")" + id + R"(","action":"guessed"}})";
  const step_outcome first = room.send(host_conn, swipe);
  const step_outcome second = room.send(host_conn, swipe);
  EXPECT_EQ(count_of(frames_for(first, host_conn), "WORD_RESULT"), 1u);
  EXPECT_EQ(error_code(second, host_conn), "INVALID_TRANSITION");
  EXPECT_TRUE(second.unchanged);
  EXPECT_EQ(room.game().state().teams[0].score, 1);
  EXPECT_EQ(error_code(room.send(2, swipe), 2), "UNAUTHORIZED");
}

TEST(AliasRound, TicksComeEverySecondFromTheDeadlineAndTheRoundEndsOnIt) {
  alias_room room(json::object{{"roundDurationSec", 10}});
  room.ready_teams();
  room.start_round();
  const time_ms deadline = room.game().state().round_deadline;
  std::vector<std::int64_t> remaining;
  for (int i = 0; i < 9; ++i) {
    for (const step_outcome& s : room.advance(1000)) {
      for (const auto& [roles, f] : s.broadcasts()) {
        if (f.at("type").as_string() == "TIMER_TICK") {
          remaining.push_back(f.at("payload").at("remainingSeconds").as_int64());
          EXPECT_TRUE(s.unchanged);
        }
      }
    }
  }
  EXPECT_EQ(remaining, (std::vector<std::int64_t>{9, 8, 7, 6, 5, 4, 3, 2, 1}));
  room.swipe(true);
  const auto end = room.advance(1000);
  ASSERT_EQ(room.now(), deadline);
  ASSERT_EQ(end.size(), 1u);
  const auto frames = end[0].of_kind(effect_kind::send_roles);
  const json::object ended = step_outcome::parse(*frames.at(0));
  EXPECT_EQ(str(ended.at("type")), "ROUND_ENDED");
  EXPECT_TRUE(frames[0]->reliable);
  const json::object& p = ended.at("payload").as_object();
  EXPECT_EQ(str(p.at("reason")), "timer_expired");
  EXPECT_EQ(p.at("wordsGuessed").as_int64(), 1);
  EXPECT_EQ(p.at("pointsEarned").as_int64(), 1);
  EXPECT_DOUBLE_EQ(p.at("averageTimePerWord").as_double(), 10.0);
  const json::object summary = step_outcome::parse(*frames.at(1));
  EXPECT_EQ(str(summary.at("type")), "SCORE_SUMMARY");
  EXPECT_EQ(summary.at("payload").at("nextRoundIn").as_int64(), 5);
  EXPECT_EQ(str(summary.at("payload").at("leaderboard").at(0).at("teamId")), "team_1");
  EXPECT_EQ(phase_of(room), "SCORE_REVIEW");
}

TEST(AliasRound, AfterTheReviewTheNextTeamAndExplainerAreAnnouncedAndRotate) {
  alias_room room(json::object{{"roundDurationSec", 10}, {"roundsPerTeam", 2}});
  room.ready_teams();
  room.start_round();
  room.advance(10000);
  const auto next = room.advance(5000);
  ASSERT_EQ(next.size(), 1u);
  const json::object ready = next[0].broadcasts().at(0).second;
  EXPECT_EQ(str(ready.at("type")), "NEXT_ROUND_READY");
  EXPECT_EQ(str(ready.at("payload").at("activeTeamId")), "team_2");
  EXPECT_EQ(str(ready.at("payload").at("explainerPlayerId")), "player_002");
  EXPECT_EQ(phase_of(room), "READY_FOR_NEXT");
  room.start_round();
  EXPECT_EQ(room.game().state().explainer_id, "player_002");
  room.advance(10000);
  room.advance(5000);
  room.start_round();  // round 3: team_1's second turn, its second player
  EXPECT_EQ(room.game().state().active_team_id, "team_1");
  EXPECT_EQ(room.game().state().explainer_id, "player_003");
}

TEST(AliasRound, PauseKeepsTheRemainingTimeExactlyAndNoTickComesWhilePaused) {
  alias_room room(json::object{{"roundDurationSec", 30}});
  room.ready_teams();
  room.start_round();
  room.advance(9500);
  const step_outcome paused = room.command(host_conn, "PAUSE_GAME");
  const json::object f = paused.broadcasts().at(0).second;
  EXPECT_EQ(str(f.at("type")), "GAME_PAUSED");
  EXPECT_EQ(str(f.at("payload").at("reason")), "host");
  EXPECT_EQ(f.at("payload").at("remainingMs").as_int64(), 20500);
  EXPECT_TRUE(room.command(host_conn, "PAUSE_GAME").unchanged);  // already paused
  EXPECT_EQ(error_code(room.swipe(true), host_conn), "INVALID_TRANSITION");
  EXPECT_TRUE(room.advance(60000).empty());
  const step_outcome resumed = room.command(host_conn, "RESUME_GAME");
  const json::object r = resumed.broadcasts().at(0).second;
  EXPECT_EQ(str(r.at("type")), "GAME_RESUMED");
  EXPECT_EQ(r.at("payload").at("remainingMs").as_int64(), 20500);
  EXPECT_EQ(r.at("payload").at("roundEndsAt").as_int64(), room.now() + 20500);
  EXPECT_TRUE(room.command(host_conn, "RESUME_GAME").unchanged);  // already running
  const auto first = room.advance(500);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].broadcasts().at(0).second.at("payload").at("remainingSeconds").as_int64(), 20);
  room.advance(19999);
  EXPECT_EQ(phase_of(room), "ROUND_ACTIVE");
  room.advance(1);
  EXPECT_EQ(phase_of(room), "SCORE_REVIEW");
}

TEST(AliasHost, AHostGoneTenSecondsPausesTheRoundAndBackInTimeDoesNot) {
  alias_room room;
  room.ready_teams();
  room.start_round();
  // The session layer tells `away` 5 s after the drop; the pause comes 10 s after the drop.
  room.presence(host_conn, presence_stage::away);
  auto fired = room.advance(4999);
  EXPECT_EQ(phase_of(room), "ROUND_ACTIVE");
  fired = room.advance(1);
  EXPECT_EQ(phase_of(room), "ROUND_PAUSED");
  bool told = false;
  for (const step_outcome& s : fired) {
    for (const auto& [roles, f] : s.broadcasts()) {
      if (f.at("type").as_string() == "GAME_PAUSED") {
        EXPECT_EQ(str(f.at("payload").at("reason")), "host_disconnected");
        EXPECT_EQ(str(f.at("payload").at("message")), "Host disconnected");
        told = true;
      }
    }
  }
  EXPECT_TRUE(told);
  room.presence(host_conn, presence_stage::back);
  EXPECT_EQ(phase_of(room), "ROUND_PAUSED");  // the host resumes when ready
  room.command(host_conn, "RESUME_GAME");
  EXPECT_EQ(phase_of(room), "ROUND_ACTIVE");
  // Back within the 10 s: no pause.
  room.presence(host_conn, presence_stage::away);
  room.advance(3000);
  room.presence(host_conn, presence_stage::back);
  room.advance(10000);
  EXPECT_EQ(phase_of(room), "ROUND_ACTIVE");
}

TEST(AliasHost, AHostWhoseSessionEndsIsReplacedByTheEarliestConnectedPlayer) {
  alias_room room;
  room.ready_teams();
  room.start_round();
  room.presence(2, presence_stage::away);  // player_001 is away: player_002 is promoted
  const step_outcome s = room.disconnect(host_conn);
  const auto frames = s.broadcasts();
  ASSERT_GE(frames.size(), 2u);
  EXPECT_EQ(str(frames[0].second.at("type")), "PLAYER_LEFT");
  EXPECT_EQ(str(frames[0].second.at("payload").at("playerId")), "host_1");
  EXPECT_EQ(str(frames[1].second.at("type")), "HOST_CHANGED");
  EXPECT_EQ(str(frames[1].second.at("payload").at("hostId")), "player_002");
  EXPECT_EQ(str(frames[1].second.at("payload").at("reason")), "host_timeout");
  const auto binds = s.of_kind(effect_kind::bind);
  ASSERT_EQ(binds.size(), 1u);
  EXPECT_EQ(binds[0]->conn, 3u);
  EXPECT_EQ(binds[0]->role, host_role);
  EXPECT_FALSE(binds[0]->rate_limited);
  // The new host gets the current word; the new host is on no team any more.
  EXPECT_EQ(count_of(s.to(3), "WORD_REVEALED"), 1u);
  EXPECT_TRUE(room.game().state().people.front().team_id.empty());
  EXPECT_EQ(count_of(frames_for(room.swipe(true), 3), "WORD_RESULT"), 0u);  // conn 1 is gone
  EXPECT_EQ(count_of(frames_for(room.command(3, "WORD_SWIPED",
                                             {{"wordId", room.word_id()}, {"action", "guessed"}}),
                                3),
                     "WORD_RESULT"),
            1u);
}

TEST(AliasHost, AllPlayersGoneTheRoomStaysAndTheHostRestartsIt) {
  alias_room room;
  room.ready_teams();
  room.start_round();
  for (connection_id c = 2; c <= 5; ++c) room.disconnect(c);
  EXPECT_EQ(phase_of(room), "ROUND_ACTIVE");
  EXPECT_TRUE(room.driver().log().end() ==
              std::find_if(room.driver().log().begin(), room.driver().log().end(),
                           [](const effect& e) { return e.kind == effect_kind::close_room; }));
  const step_outcome restart = room.command(host_conn, "RESTART_GAME");
  EXPECT_EQ(str(restart.broadcasts().at(0).second.at("type")), "GAME_RESTARTED");
  EXPECT_EQ(phase_of(room), "LOBBY");
  EXPECT_TRUE(room.game().state().teams.empty());
  room.join(9, "Again");
  EXPECT_EQ(room.game().state().people.size(), 2u);
}

TEST(AliasPack, ASmallPackRunsOutEndsTheRoundAndIsShuffledAgain) {
  alias_room room(json::object{{"customPack", custom_pack(10)}, {"roundDurationSec", 60}});
  room.ready_teams();
  room.start_round();
  std::set<std::string> seen;
  step_outcome last;
  for (int i = 0; i < 10; ++i) {
    seen.insert(room.word_text());
    last = room.swipe(true);
  }
  EXPECT_EQ(seen.size(), 10u);  // no word twice within the pass
  const auto frames = last.broadcasts();
  const auto ended = std::find_if(frames.begin(), frames.end(), [](const auto& f) {
    return f.second.at("type").as_string() == "ROUND_ENDED";
  });
  ASSERT_NE(ended, frames.end());
  EXPECT_EQ(str(ended->second.at("payload").at("reason")), "pack_exhausted");
  room.advance(5000);
  room.start_round();
  EXPECT_EQ(phase_of(room), "ROUND_ACTIVE");
  EXPECT_TRUE(room.game().state().current_word.has_value());
}

TEST(AliasGame, TheLastRoundEndsTheGameWithWinnerMvpAndFinalResultsThenRestart) {
  alias_room room(json::object{{"roundDurationSec", 10}, {"roundsPerTeam", 1}});
  room.ready_teams();
  room.start_round();  // team_1, explained by player_001
  room.swipe(true);
  room.swipe(true);
  room.advance(10000);
  room.advance(5000);
  room.start_round();  // team_2, player_002
  room.swipe(true);
  room.advance(10000);
  const auto end = room.advance(5000);
  ASSERT_EQ(end.size(), 1u);
  const auto frames = end[0].of_kind(effect_kind::send_roles);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_TRUE(frames[0]->reliable);
  const json::object ended = step_outcome::parse(*frames[0]);
  EXPECT_EQ(str(ended.at("type")), "GAME_ENDED");
  const json::object& p = ended.at("payload").as_object();
  EXPECT_EQ(str(p.at("winnerTeamId")), "team_1");
  EXPECT_EQ(p.at("finalScores").at(0).at("score").as_int64(), 2);
  EXPECT_EQ(p.at("totalWordsPlayed").as_int64(), 3);
  EXPECT_EQ(str(p.at("mvpPlayerId")), "player_001");
  EXPECT_EQ(str(step_outcome::parse(*frames[1]).at("type")), "FINAL_RESULTS");
  EXPECT_EQ(phase_of(room), "FINAL_RESULTS");
  EXPECT_TRUE(room.command(host_conn, "CONFIRM_START").to(host_conn).size() == 1);
  room.command(host_conn, "RESTART_GAME");
  EXPECT_EQ(phase_of(room), "LOBBY");
  EXPECT_EQ(room.game().state().round, 0u);
}

TEST(AliasGame, ATieHasNoWinner) {
  alias_room room(json::object{{"roundDurationSec", 10}, {"roundsPerTeam", 1}});
  room.ready_teams();
  room.start_round();
  room.advance(10000);
  room.advance(5000);
  ASSERT_EQ(phase_of(room), "READY_FOR_NEXT");
  room.start_round();
  ASSERT_EQ(phase_of(room), "ROUND_ACTIVE");
  room.advance(10000);
  ASSERT_EQ(phase_of(room), "SCORE_REVIEW");
  const auto end = room.advance(5000);
  ASSERT_EQ(phase_of(room), "FINAL_RESULTS");
  const json::object ended = step_outcome::parse(*end.at(0).of_kind(effect_kind::send_roles)[0]);
  EXPECT_TRUE(ended.at("payload").at("winnerTeamId").is_null());
  EXPECT_EQ(ended.at("payload").at("tiedTeamIds").as_array().size(), 2u);
  EXPECT_TRUE(ended.at("payload").at("mvpPlayerId").is_null());
}

TEST(AliasVersion, EveryTransitionMovesStateVersionAndEveryFrameCarriesIt) {
  alias_room room;
  std::uint64_t last = room.game().state().state_version;
  EXPECT_EQ(last, 1u);
  room.join(2, "A");
  EXPECT_EQ(room.game().state().state_version, last + 1);
  last = room.game().state().state_version;
  room.join(3, "B");
  room.join(4, "C");
  room.join(5, "D");
  room.command(host_conn, "START_TEAM_SETUP", {{"numTeams", 2}});
  EXPECT_EQ(room.game().state().state_version, last + 4);
  room.command(host_conn, "START_TEAM_SETUP", {{"numTeams", 2}});  // a no-op keeps it
  EXPECT_EQ(room.game().state().state_version, last + 4);
  for (connection_id c = 2; c <= 5; ++c) room.join_team(c, c % 2 ? "team_1" : "team_2");
  room.start_round();
  const std::uint64_t at_start = room.game().state().state_version;
  const auto ticks = room.advance(3000);
  EXPECT_EQ(room.game().state().state_version, at_start);  // ticks are no transition
  for (const step_outcome& s : ticks) {
    for (const auto& [roles, f] : s.broadcasts()) {
      EXPECT_EQ(static_cast<std::uint64_t>(f.at("payload").at("stateVersion").as_int64()),
                at_start);
    }
  }
  EXPECT_EQ(room.game().state_version(), room.game().state().state_version);
}

TEST(AliasSessions, TheViewHasTheRoundClockAndTheWordOnlyForTheHost) {
  alias_room room(json::object{{"roundDurationSec", 60}});
  room.ready_teams();
  room.start_round();
  room.swipe(true);
  room.advance(7300);
  const session_view host = room.game().view_of(host_conn, room.now());
  const session_view player = room.game().view_of(2, room.now());
  EXPECT_EQ(host.phase, "ROUND_ACTIVE");
  const json::object h = json::parse(host.state_json).as_object();
  const json::object p = json::parse(player.state_json).as_object();
  EXPECT_EQ(h.at("remainingMs").as_int64(), 52700);
  EXPECT_EQ(h.at("remainingSeconds").as_int64(), 53);
  EXPECT_EQ(str(h.at("currentWord").at("wordText")), room.word_text());
  EXPECT_FALSE(p.contains("currentWord"));
  EXPECT_EQ(str(p.at("currentWordId")), room.word_id());
  EXPECT_EQ(p.at("currentScore").at("team_1").as_int64(), 1);
  EXPECT_EQ(player.state_json.find(room.word_text()), std::string::npos);
  EXPECT_EQ(str(p.at("you").at("id")), "player_001");
  EXPECT_EQ(host.checksum, player.checksum);  // the checksum covers the shared fields
  EXPECT_EQ(room.game().checksum_of(2), player.checksum);
  EXPECT_TRUE(room.game().view_of(99, room.now()).state_json.empty());
}

TEST(AliasSessions, TheChecksumIsTheDocumentedRecipe) {
  alias_room room;
  fnv1a only_host;
  only_host.add("ROOM_CREATED|0|||host_1::1;");  // alias.md, "Checksum"
  EXPECT_EQ(room.game().checksum_of(host_conn), only_host.hex());
  room.ready_teams();
  room.start_round();
  room.swipe(true);
  room.presence(3, presence_stage::away);
  fnv1a playing;
  playing.add(
      "ROUND_ACTIVE|1|team_1|team_1=1;team_2=0;|host_1::1;player_001:team_1:1;"
      "player_002:team_2:0;player_003:team_1:1;player_004:team_2:1;");
  EXPECT_EQ(room.game().checksum_of(2), playing.hex());
}

TEST(AliasRestore, MidRoundTheRestoredRoomHasItsDeadlineWordAndScores) {
  alias_room room(json::object{{"roundDurationSec", 30}});
  room.ready_teams();
  room.start_round();
  room.swipe(true);
  room.advance(4200);
  const time_ms deadline = room.game().state().round_deadline;
  const std::string word = room.word_text();
  const std::string id = room.word_id();
  room.restore();
  EXPECT_EQ(room.game().state().round_deadline, deadline);
  EXPECT_EQ(room.word_text(), word);
  EXPECT_EQ(room.word_id(), id);
  EXPECT_EQ(room.game().state().teams[0].score, 1);
  for (const auto& p : room.game().state().people) EXPECT_FALSE(p.connected);
  // The host resumes (its session says back) and plays on; the round ends on the old deadline.
  room.presence(host_conn, presence_stage::back);
  EXPECT_EQ(count_of(frames_for(room.swipe(true), host_conn), "WORD_RESULT"), 1u);
  room.advance(deadline - room.now() - 1);
  EXPECT_EQ(phase_of(room), "ROUND_ACTIVE");
  room.advance(1);
  EXPECT_EQ(phase_of(room), "SCORE_REVIEW");
  EXPECT_EQ(room.game().state().history.back().guessed, 2u);
}

TEST(AliasRestore, AHostThatDoesNotComeBackAfterARestorePausesTheRound) {
  alias_room room(json::object{{"roundDurationSec", 60}});
  room.ready_teams();
  room.start_round();
  room.restore();
  room.driver().engine_input(input_kind::created);
  room.advance(10000);
  EXPECT_EQ(phase_of(room), "ROUND_PAUSED");
}

TEST(AliasRestore, DamagedSnapshotsAreRefused) {
  alias_room room;
  room.ready_teams();
  room.start_round();
  const std::string good = room.game().snapshot();
  EXPECT_NE(room.module().restore(good), nullptr);
  EXPECT_EQ(room.module().restore(good.substr(0, good.size() / 2)), nullptr);
  std::string bad_word = good;
  const auto at = bad_word.find("\"current_word\":");
  ASSERT_NE(at, std::string::npos);
  bad_word.replace(at, 15, "\"current_word\":99999,\"x\":");
  EXPECT_EQ(room.module().restore(bad_word), nullptr);
  std::string bad_phase = good;
  bad_phase.replace(bad_phase.find("ROUND_ACTIVE"), 12, "ROUND_ACTIVX");
  EXPECT_EQ(room.module().restore(bad_phase), nullptr);
}

}  // namespace
}  // namespace partyd::alias::testing
