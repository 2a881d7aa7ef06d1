// Mafia's rules on a manual clock (docs/protocol/mafia.md): identity, decoding, the lobby (host,
// ready, kick, start, host succession, a second connection of a seat), roles by player count,
// night actions and their resolution, chat channels, votes, the end, disconnects and their grace,
// matched rooms' countdown, snapshots, and the history records the room keeps until written.
#include <algorithm>
#include <string>

#include <gtest/gtest.h>

#include "mafia_harness.hpp"

namespace partyd::mafia::testing {
namespace {

std::string reason_of(const step_outcome& s) {
  auto f = mafia_table::first_frame(s, "room:error");
  return f ? str(f->at("payload").at("reason")) : std::string();
}

const json::object* last_of(const std::vector<json::object>& frames, std::string_view type) {
  for (auto it = frames.rbegin(); it != frames.rend(); ++it) {
    if (it->at("type").as_string() == type) return &*it;
  }
  return nullptr;
}

// ---- identity and decoding ----

TEST(MafiaIdentity, IdentifyGivesAGuestUserAndATokenThatProvesItLater) {
  mafia_module module;
  const decode_result first =
      module.decode(msg("auth:identify", {{"username", "  Alice  "}}), true);
  ASSERT_FALSE(first.error) << first.error.message;
  ASSERT_TRUE(first.identity);
  EXPECT_TRUE(is_uuid(first.identity->user_id));
  EXPECT_EQ(first.identity->display_name, "Alice");
  EXPECT_TRUE(first.identity->guest);
  const json::object answer = json::parse(module.identified_frame(*first.identity)).as_object();
  EXPECT_EQ(str(answer.at("type")), "auth:success");
  const std::string token = str(answer.at("payload").at("token"));
  EXPECT_EQ(str(answer.at("payload").at("userId")), first.identity->user_id);

  const decode_result again =
      module.decode(msg("auth:identify", {{"username", "Alice 2"}, {"token", token}}), true);
  ASSERT_TRUE(again.identity);
  EXPECT_EQ(again.identity->user_id, first.identity->user_id);
  EXPECT_EQ(again.identity->display_name, "Alice 2");

  std::string forged = token;
  forged.back() = forged.back() == 'a' ? 'b' : 'a';
  EXPECT_EQ(module.decode(msg("auth:identify", {{"username", "Eve"}, {"token", forged}}), true)
                .error.code,
            "invalid_token");
  // Another server's key does not prove anything here.
  mafia_config other;
  other.identity_key = std::string(64, 'a');
  EXPECT_EQ(mafia_module(other)
                .decode(msg("auth:identify", {{"username", "Eve"}, {"token", token}}), true)
                .error.code,
            "invalid_token");
}

TEST(MafiaIdentity, UsernamesAreCheckedWithDocumentedErrors) {
  mafia_module module;
  auto code = [&](const json::value& name) {
    return module.decode(msg("auth:identify", {{"username", name}}), true).error.code;
  };
  EXPECT_EQ(code("A"), "invalid_username");                      // too short
  EXPECT_EQ(code("abcdefghijklmnopqrstu"), "invalid_username");  // 21 characters
  EXPECT_EQ(code("<script>"), "invalid_username");               // markup characters
  EXPECT_EQ(code("tab\there"), "invalid_username");
  EXPECT_EQ(code(42), "invalid_username");
  EXPECT_EQ(code("Zoë_the-2nd."), "");  // any script, some punctuation
  EXPECT_EQ(code("Ωμέγα Παίκτης"), "");
  EXPECT_EQ(module.decode(msg("auth:identify"), true).error.code, "invalid_username");
}

TEST(MafiaDecode, MessagesAreRoutedByWhetherTheConnectionIsInARoom) {
  mafia_module module;
  EXPECT_EQ(module.decode(msg("room:ready"), true).error.code, "not_in_room");
  EXPECT_EQ(module.decode(msg("chat:send", {{"message", "hi"}}), true).error.code, "not_in_room");
  EXPECT_EQ(module.decode(msg("room:join", {{"roomCode", "KQMAF7"}}), false).error.code,
            "already_in_room");
  EXPECT_EQ(module.decode(msg("auth:identify", {{"username", "Bob"}}), false).error.code,
            "already_in_room");
  const decode_result join = module.decode(msg("room:join", {{"roomCode", "kqmaf7"}}), true);
  EXPECT_EQ(join.room_code, "KQMAF7");  // codes are read case-insensitively
  EXPECT_EQ(module.decode(msg("room:join", {{"roomCode", "KQMA0O"}}), true).error.code,
            "invalid_room_code");  // 0 and O are not in the alphabet
  EXPECT_EQ(module.decode(msg("matchmaking:join"), true).room_code, queue_code);
  EXPECT_TRUE(module.decode(msg("room:leave"), false).leaves_room);
  EXPECT_FALSE(module.decode(msg("matchmaking:leave"), false).leaves_room);  // the queue lets go
  const decode_result create = module.decode(
      msg("room:create", {{"isPublic", true}, {"maxPlayers", 6}, {"settings", {{"voteTime", 5}}}}),
      true);
  ASSERT_FALSE(create.error);
  EXPECT_TRUE(create.creates_room);
  EXPECT_EQ(create.create_options.at("maxPlayers").to_number<std::int64_t>(), 6);
}

TEST(MafiaDecode, BadFieldsAreRefusedByName) {
  mafia_module module;
  auto refused = [&](std::string_view text, bool first = false) {
    const decode_result d = module.decode(text, first);
    return d.error.code + " " + d.error.message;
  };
  EXPECT_EQ(refused("[1]"), "invalid_json a message is a JSON object with a string \"type\"");
  EXPECT_EQ(refused(R"({"type":"room:fly"})"), "unknown_type unknown message type");
  EXPECT_EQ(refused(R"({"type":"room:ready","payload":3})"),
            "invalid_field payload: must be an object");
  EXPECT_EQ(refused(msg("room:create", {{"maxPlayers", 3}}), true),
            "invalid_field payload.maxPlayers: must be an integer from 4 to 16");
  EXPECT_EQ(refused(msg("room:create", {{"settings", {{"dayTime", 5}}}}), true),
            "invalid_settings payload.settings.dayTime: unknown setting (discussionTime, "
            "voteTime, nightTime)");
  EXPECT_EQ(refused(msg("room:create", {{"settings", {{"voteTime", 0}}}}), true),
            "invalid_settings payload.settings.voteTime: must be an integer from 1 to 600");
  EXPECT_EQ(refused(msg("action:mafiaKill")),
            "invalid_field payload.targetId: required, a user id");
  EXPECT_EQ(refused(msg("vote:cast")),
            "invalid_field payload.targetId: required, a user id or null (skip)");
  EXPECT_EQ(refused(msg("chat:send", {{"message", "   "}})),
            "invalid_field payload.message: must not be empty");
  EXPECT_EQ(refused(msg("chat:send", {{"message", "bell\x07"}})),
            "invalid_field payload.message: no control characters");
  EXPECT_EQ(refused(msg("chat:send", {{"message", std::string(201, 'a')}})),
            "invalid_field payload.message: must be at most 200 characters");
  EXPECT_FALSE(module.decode(msg("vote:cast", {{"targetId", nullptr}}), false).error);
  EXPECT_EQ(refused(std::string(5000, ' ')),
            "message_too_large a message may have at most 4096 bytes");
}

// ---- lobby ----

TEST(MafiaLobby, TheCreatorHostsAndEveryJoinIsShownToEveryone) {
  mafia_table room;
  const step_outcome created = room.create(1);
  EXPECT_TRUE(created.important());
  EXPECT_EQ(room.game().state().host_id, user_of(1));
  room.join(2);
  const json::object* update = last_of(room.inbox(1), "room:update");
  ASSERT_TRUE(update);
  const json::object& p = update->at("payload").as_object();
  EXPECT_EQ(str(p.at("roomCode")), room_code);
  EXPECT_EQ(str(p.at("status")), "lobby");
  EXPECT_EQ(str(p.at("hostId")), user_of(1));
  ASSERT_EQ(p.at("players").as_array().size(), 2u);
  EXPECT_EQ(str(p.at("players").as_array()[1].at("username")), "Name 2");
  EXPECT_TRUE(last_of(room.inbox(2), "room:update"));
  EXPECT_TRUE(is_uuid(room.game().state().room_id));
}

TEST(MafiaLobby, JoinsAreRefusedWithoutIdentityWhenFullOrMidGameAndTheSocketIsLetGo) {
  mafia_table room(json::object{{"maxPlayers", 4}});
  const step_outcome anonymous = room.send(9, msg("room:join", {{"roomCode", room_code}}), true);
  EXPECT_EQ(reason_of(anonymous), "not_identified");
  EXPECT_TRUE(room.released().count(9));
  EXPECT_FALSE(anonymous.of_kind(effect_kind::close_room).empty());  // nobody came: no room
  mafia_table full(json::object{{"maxPlayers", 4}});
  full.seat(4);
  const step_outcome fifth = full.join(5);
  EXPECT_EQ(reason_of(fifth), "room_full");
  EXPECT_TRUE(full.released().count(5));
  EXPECT_TRUE(fifth.unchanged);
  full.start(1);
  EXPECT_EQ(reason_of(full.join(6)), "game_in_progress");
}

TEST(MafiaLobby, StartNeedsTheHostEnoughPlayersAndEveryoneReady) {
  mafia_table room;
  room.seat(3);
  EXPECT_EQ(reason_of(room.start(2)), "not_host");
  EXPECT_EQ(reason_of(room.start(1)), "not_enough_players");
  room.join(4);
  EXPECT_EQ(reason_of(room.start(1)), "not_ready");
  EXPECT_TRUE(room.ready(4).effects.size() > 0);
  EXPECT_TRUE(room.ready(4).unchanged);  // ready twice: nothing changes
  const step_outcome started = room.start(1);
  EXPECT_TRUE(mafia_table::first_frame(started, "game:phase"));
  EXPECT_TRUE(started.important());
}

TEST(MafiaLobby, TheHostKicksInTheLobbyOnlyAndTheKickedKeepTheirSocket) {
  mafia_table room;
  room.seat(5);
  EXPECT_EQ(reason_of(room.send(2, msg("room:kick", {{"userId", user_of(3)}}))), "not_host");
  EXPECT_EQ(reason_of(room.send(1, msg("room:kick", {{"userId", user_of(1)}}))), "invalid_target");
  EXPECT_EQ(reason_of(room.send(1, msg("room:kick", {{"userId", "nobody"}}))), "unknown_player");
  room.send(1, msg("room:kick", {{"userId", user_of(3)}}));
  EXPECT_EQ(str(last_of(room.inbox(3), "room:left")->at("payload").at("reason")), "kicked");
  EXPECT_EQ(room.released().at(3), "");
  EXPECT_EQ(room.game().state().players.size(), 4u);
  ASSERT_EQ(room.game().state().departed.size(), 1u);
  EXPECT_TRUE(room.game().state().departed[0].kicked);
  room.start(1);
  EXPECT_EQ(reason_of(room.send(1, msg("room:kick", {{"userId", user_of(2)}}))),
            "game_in_progress");
}

TEST(MafiaLobby, WhenTheHostLeavesTheEarliestJoinedConnectedPlayerHosts) {
  mafia_table room;
  room.seat(4);
  room.presence(2, presence_stage::away);
  room.leave(1);
  EXPECT_EQ(room.game().state().host_id, user_of(3));  // 2 is away
  EXPECT_EQ(str(last_of(room.inbox(3), "room:update")->at("payload").at("hostId")), user_of(3));
  room.leave(2);
  room.leave(3);
  const step_outcome last = room.leave(4);
  EXPECT_FALSE(last.of_kind(effect_kind::close_room).empty());  // empty rooms close
}

TEST(MafiaLobby, TheSameUserOnANewConnectionTakesTheSeatWithItsRole) {
  mafia_table room;
  room.seat_and_start(5);
  const std::string role = room.role_of(3);
  // Conn 33 speaks for user-3 (a new tab); the harness names users by conn, so do it by hand.
  input in;
  in.kind = input_kind::command;
  in.conn = 33;
  in.cmd = room.module().decode(msg("room:join", {{"roomCode", room_code}}), true).cmd;
  in.identity =
      std::make_shared<const connection_identity>(connection_identity{user_of(3), "Name 3", true});
  const step_outcome moved = room.engine(std::move(in));
  const auto frames = partyd::testing::frames_for(moved, 33);
  const auto back = partyd::testing::first_of(frames, "auth:reconnect");
  ASSERT_TRUE(back);
  const json::object& state = back->at("payload").at("gameState").as_object();
  EXPECT_EQ(str(state.at("you").at("role")), role);
  EXPECT_EQ(str(back->at("payload").at("roomId")), room_code);
  EXPECT_TRUE(room.released().count(3));  // the older connection is let go
  EXPECT_EQ(room.role_of(33), role);
}

// ---- roles ----

TEST(MafiaRoles, CountsFollowThePlayerNumber) {
  for (int n = 4; n <= 16; ++n) {
    mafia_config config = fast_config();
    mafia_table room(json::object{{"maxPlayers", 16}}, config, 11 + n);
    room.seat_and_start(n);
    std::map<std::string, int> counts;
    for (const auto& p : room.game().state().players) ++counts[std::string(role_name(p.assigned))];
    EXPECT_EQ(counts["mafia"], std::max(1, n / 4)) << n;
    EXPECT_EQ(counts["detective"], 1) << n;
    EXPECT_EQ(counts["doctor"], n >= 5 ? 1 : 0) << n;
    EXPECT_EQ(counts["villager"], n - counts["mafia"] - 1 - counts["doctor"]) << n;
  }
}

TEST(MafiaRoles, EachRoleGoesToItsSeatAloneAndTheMafiaKnowEachOther) {
  mafia_table room(json::object{{"maxPlayers", 10}});
  room.seat_and_start(8);  // 2 mafia
  for (connection_id c = 1; c <= 8; ++c) {
    std::vector<json::object> roles;
    for (const auto& f : room.inbox(c)) {
      if (f.at("type").as_string() == "game:role") roles.push_back(f);
    }
    ASSERT_EQ(roles.size(), 1u) << c;
    EXPECT_EQ(str(roles[0].at("payload").at("role")), room.role_of(c));
    if (room.role_of(c) == "mafia") {
      EXPECT_EQ(roles[0].at("payload").at("mafia").as_array().size(), 2u);
    } else {
      EXPECT_FALSE(roles[0].at("payload").as_object().contains("mafia"));
    }
  }
  // The same seed deals the same roles.
  mafia_table again(json::object{{"maxPlayers", 10}});
  again.seat_and_start(8);
  for (connection_id c = 1; c <= 8; ++c) EXPECT_EQ(again.role_of(c), room.role_of(c));
}

// ---- night ----

TEST(MafiaNight, ActionsAreCheckedForPhaseLifeRoleAndTarget) {
  mafia_table room;
  room.seat_and_start(6);
  const connection_id mafia = room.conn_with(role::mafia);
  const connection_id doctor = room.conn_with(role::doctor);
  const connection_id detective = room.conn_with(role::detective);
  const connection_id villager = room.conn_with(role::villager);
  EXPECT_EQ(reason_of(room.act(villager, "action:mafiaKill", doctor)), "wrong_role");
  EXPECT_EQ(reason_of(room.act(detective, "action:doctorSave", doctor)), "wrong_role");
  EXPECT_EQ(reason_of(room.act(mafia, "action:mafiaKill", mafia)), "invalid_target");
  EXPECT_EQ(reason_of(room.act(detective, "action:detectiveInspect", detective)), "invalid_target");
  EXPECT_EQ(reason_of(room.send(mafia, msg("action:mafiaKill", {{"targetId", "ghost"}}))),
            "invalid_target");
  const step_outcome kill = room.act(mafia, "action:mafiaKill", villager);
  EXPECT_TRUE(mafia_table::first_frame(kill, "action:accepted"));
  EXPECT_TRUE(room.act(mafia, "action:mafiaKill", villager).unchanged);  // the same choice again
  room.to_phase_end();                                                   // day
  EXPECT_EQ(reason_of(room.act(mafia, "action:mafiaKill", doctor)), "wrong_phase");
  room.to_phase_end();                                                                // voting
  room.to_phase_end();                                                                // night 2
  EXPECT_EQ(reason_of(room.act(villager, "action:mafiaKill", doctor)), "not_alive");  // killed
}

TEST(MafiaNight, TheDoctorSavesTheMafiasTargetAndTheDetectiveLearnsAtDawn) {
  mafia_table room;
  room.seat_and_start(6);
  const connection_id mafia = room.conn_with(role::mafia);
  const connection_id doctor = room.conn_with(role::doctor);
  const connection_id detective = room.conn_with(role::detective);
  room.act(mafia, "action:mafiaKill", detective);
  room.act(doctor, "action:doctorSave", detective);
  const step_outcome inspect = room.act(detective, "action:detectiveInspect", mafia);
  EXPECT_FALSE(mafia_table::first_frame(inspect, "action:result"));  // resolved at night's end
  const time_ms deadline = room.game().state().phase_ends_at;
  EXPECT_EQ(deadline, t0 + 30'000);  // nightTime 30 s from the start
  room.advance(deadline - room.now() - 1);
  EXPECT_EQ(room.game().state().current, phase::night);  // not a millisecond early
  const auto fired = room.advance(1);
  ASSERT_EQ(fired.size(), 1u);
  const auto result = mafia_table::first_frame(fired[0], "action:result");
  ASSERT_TRUE(result);
  EXPECT_EQ(str(result->at("payload").at("inspectResult").at("targetId")), user_of(mafia));
  EXPECT_TRUE(result->at("payload").at("inspectResult").at("isMafia").as_bool());
  for (const effect& e : fired[0].effects) {
    if (e.kind == effect_kind::send && e.frame->find("action:result") != std::string::npos) {
      EXPECT_EQ(e.conn, detective);  // to the detective alone
    }
  }
  const auto day = mafia_table::first_frame(fired[0], "game:phase");
  ASSERT_TRUE(day);
  EXPECT_EQ(str(day->at("payload").at("phase")), "day");
  EXPECT_TRUE(day->at("payload").at("killedUserId").is_null());
  EXPECT_TRUE(day->at("payload").at("saved").as_bool());
  EXPECT_EQ(day->at("payload").at("duration").as_int64(), 90);
  EXPECT_EQ(room.living().size(), 6u);
}

TEST(MafiaNight, SeveralMafiaAgreeByMostVotesAndATieGoesToTheFirstChoice) {
  mafia_table room(json::object{{"maxPlayers", 12}});
  room.seat_and_start(12);  // 3 mafia
  const auto mafia = room.living(role::mafia);
  ASSERT_EQ(mafia.size(), 3u);
  const auto villagers = room.living(role::villager);
  room.act(mafia[0], "action:mafiaKill", villagers[0]);
  const step_outcome second = room.act(mafia[1], "action:mafiaKill", villagers[1]);
  // The other mafia see the choices; nobody else does.
  for (const effect& e : second.effects) {
    if (e.kind == effect_kind::send && e.frame->find("action:mafiaVotes") != std::string::npos) {
      EXPECT_EQ(room.role_of(e.conn), "mafia");
    }
  }
  room.to_phase_end();
  // 1 : 1: the target chosen first dies.
  EXPECT_FALSE(room.game().state().players[villagers[0] - 1].alive);
  EXPECT_TRUE(room.game().state().players[villagers[1] - 1].alive);
  room.to_phase_end();  // voting
  room.to_phase_end();  // night 2: nobody voted, nobody goes
  room.act(mafia[0], "action:mafiaKill", villagers[2]);
  room.act(mafia[1], "action:mafiaKill", villagers[3]);
  room.act(mafia[2], "action:mafiaKill", villagers[3]);
  room.to_phase_end();
  EXPECT_FALSE(room.game().state().players[villagers[3] - 1].alive);  // 2 : 1
  EXPECT_TRUE(room.game().state().players[villagers[2] - 1].alive);
}

// ---- chat ----

TEST(MafiaChat, ChannelsFollowThePhaseAndLife) {
  mafia_table room;
  room.seat(6);
  room.chat(2, "hello lobby");
  EXPECT_TRUE(last_of(room.inbox(5), "chat:message"));
  room.start(1);
  room.clear_inboxes();
  const connection_id mafia = room.conn_with(role::mafia);
  const connection_id villager = room.conn_with(role::villager);
  EXPECT_EQ(reason_of(room.chat(villager, "psst")), "chat_closed");
  room.chat(mafia, "kill the doctor");
  for (connection_id c = 1; c <= 6; ++c) {
    EXPECT_EQ(last_of(room.inbox(c), "chat:message") != nullptr, c == mafia) << c;
  }
  room.act(mafia, "action:mafiaKill", villager);
  room.to_phase_end();  // day: the villager is dead
  room.clear_inboxes();
  room.chat(villager, "I was killed by...");
  for (connection_id c = 1; c <= 6; ++c) {
    EXPECT_EQ(last_of(room.inbox(c), "chat:message") != nullptr, c == villager) << c;
  }
  const connection_id doctor = room.conn_with(role::doctor);
  room.chat(doctor, "good morning");
  for (connection_id c = 1; c <= 6; ++c) {
    const json::object* m = last_of(room.inbox(c), "chat:message");
    ASSERT_TRUE(m) << c;
    if (c != villager) {
      EXPECT_EQ(str(m->at("payload").at("channel")), "all");
    }
  }
}

TEST(MafiaChat, TheHostMutesAndMessagesAreRateLimited) {
  mafia_table room;
  room.seat(4);
  EXPECT_EQ(reason_of(room.send(2, msg("chat:mute", {{"userId", user_of(3)}}))), "not_host");
  const step_outcome muted = room.send(1, msg("chat:mute", {{"userId", user_of(3)}}));
  const auto notice = mafia_table::first_frame(muted, "chat:mute");
  ASSERT_TRUE(notice);
  EXPECT_TRUE(notice->at("payload").at("muted").as_bool());
  EXPECT_EQ(reason_of(room.chat(3, "let me talk")), "muted");
  room.send(1, msg("chat:unmute", {{"userId", user_of(3)}}));
  EXPECT_EQ(reason_of(room.chat(3, "thanks")), "");
  for (int i = 0; i < 4; ++i) EXPECT_EQ(reason_of(room.chat(2, "spam")), "") << i;
  EXPECT_EQ(reason_of(room.chat(2, "spam")), "");
  EXPECT_EQ(reason_of(room.chat(2, "spam")), "chat_rate_limited");
  room.advance(5000);
  EXPECT_EQ(reason_of(room.chat(2, "later")), "");
}

// ---- votes and the end ----

TEST(MafiaVotes, CountsAreShownAndTheMostVotedGoesUnlessTiedOrSkipped) {
  mafia_table room;
  room.seat_and_start(7);
  room.to_phase_end();  // day (no kill)
  EXPECT_EQ(reason_of(room.vote(1, 2)), "wrong_phase");
  room.to_phase_end();  // voting
  EXPECT_EQ(reason_of(room.vote(1, 1)), "invalid_target");
  const step_outcome first = room.vote(1, 2);
  const auto update = mafia_table::first_frame(first, "vote:update");
  ASSERT_TRUE(update);
  EXPECT_EQ(update->at("payload").at("counts").at(user_of(2)).as_int64(), 1);
  EXPECT_TRUE(room.vote(1, 2).unchanged);
  room.vote(1, 3);  // changed
  room.vote(2, 3);
  room.vote(4, 2);
  room.vote(5, 2);
  room.vote(6, std::nullopt);  // skip
  const auto fired = room.to_phase_end();
  const auto result = mafia_table::first_frame(fired.at(0), "vote:result");
  ASSERT_TRUE(result);
  EXPECT_TRUE(result->at("payload").at("eliminatedUserId").is_null());  // 2 : 2 tie
  EXPECT_EQ(room.game().state().current, phase::night);
  EXPECT_EQ(room.game().state().round, 2u);
}

TEST(MafiaVotes, EveryoneVotedEndsTheVoteAtOnceAndAllMafiaDeadIsTheVillagersWin) {
  mafia_table room;
  room.seat_and_start(5);  // 1 mafia
  const connection_id mafia = room.conn_with(role::mafia);
  room.to_phase_end();
  room.to_phase_end();
  step_outcome last;
  for (connection_id c : room.living()) {
    last = room.vote(c, c == mafia ? (mafia == 1 ? 2 : 1) : mafia);
  }
  const auto end = mafia_table::first_frame(last, "game:end");
  ASSERT_TRUE(end);
  EXPECT_EQ(str(end->at("payload").at("winner")), "villagers");
  EXPECT_EQ(end->at("payload").at("roles").as_object().size(), 5u);
  EXPECT_EQ(str(end->at("payload").at("roles").at(user_of(mafia))), "mafia");
  EXPECT_EQ(end->at("payload").at("stats").at("rounds").as_int64(), 1);
  EXPECT_EQ(room.game().state().current, phase::ended);
  EXPECT_TRUE(room.driver().timers().empty());
  // The record for the history, with the seed's rows.
  const auto records = last.of_kind(effect_kind::record);
  ASSERT_EQ(records.size(), 1u);
  const json::object& r = records[0]->fields;
  EXPECT_EQ(str(r.at("winner")), "villagers");
  EXPECT_EQ(r.at("users").as_array().size(), 5u);
  EXPECT_EQ(r.at("players").as_array().size(), 5u);
  EXPECT_EQ(r.at("roles").as_array().size(), 5u);
  EXPECT_EQ(str(r.at("room").at("code")), room_code);
  EXPECT_EQ(records[0]->text, str(r.at("gameId")));
  EXPECT_EQ(room.game().state().unwritten.size(), 1u);
}

TEST(MafiaVotes, TheMafiaWinAtParity) {
  mafia_table room;
  room.seat_and_start(4);  // 1 mafia, 3 others: one kill and one wrong vote
  const connection_id mafia = room.conn_with(role::mafia);
  auto others = room.living();
  others.erase(std::find(others.begin(), others.end(), mafia));
  room.act(mafia, "action:mafiaKill", others[0]);
  room.to_phase_end();
  room.to_phase_end();
  step_outcome last;
  for (connection_id c : room.living()) last = room.vote(c, c == others[1] ? others[2] : others[1]);
  const auto end = mafia_table::first_frame(last, "game:end");
  ASSERT_TRUE(end);
  EXPECT_EQ(str(end->at("payload").at("winner")), "mafia");
}

TEST(MafiaHistory, ARecordStaysUntilWrittenIsOfferedAgainAndAnEmptyRoomWaitsForIt) {
  mafia_table room;
  room.seat_and_start(4);
  const connection_id mafia = room.conn_with(role::mafia);
  room.to_phase_end();
  room.to_phase_end();
  for (connection_id c : room.living()) room.vote(c, c == mafia ? (mafia == 1 ? 2 : 1) : mafia);
  ASSERT_EQ(room.game().state().unwritten.size(), 1u);
  const std::string key = room.game().state().unwritten[0].game_id;
  auto answer = [&](bool written) {
    auto reply = std::make_unique<record_written_reply>();
    reply->key = key;
    reply->written = written;
    input in;
    in.kind = input_kind::record_written;
    in.cmd = std::move(reply);
    return room.engine(std::move(in));
  };
  answer(false);  // the history's queue was full
  ASSERT_TRUE(room.driver().timers().count(mafia_game::history_timer));
  const auto again = room.advance(5000);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].of_kind(effect_kind::record).size(), 1u);
  // A restart before the write: the restored room offers it again.
  room.restore();
  const step_outcome restored = room.engine(created_input());
  EXPECT_EQ(restored.of_kind(effect_kind::record).size(), 1u);
  // Everyone leaves: the room waits for the history before it closes.
  for (connection_id c = 1; c <= 4; ++c) {
    const step_outcome left = room.leave(c);
    EXPECT_TRUE(left.of_kind(effect_kind::close_room).empty());
  }
  EXPECT_EQ(room.game().state().closing, "empty");
  const step_outcome written = answer(true);
  EXPECT_TRUE(room.game().state().unwritten.empty());
  EXPECT_FALSE(written.of_kind(effect_kind::close_room).empty());
}

TEST(MafiaEnd, AfterAGameTheHostStartsAnotherWhenEveryoneIsReadyAgain) {
  mafia_table room;
  room.seat_and_start(5);
  const connection_id mafia = room.conn_with(role::mafia);
  room.to_phase_end();
  room.to_phase_end();
  for (connection_id c : room.living()) room.vote(c, c == mafia ? (mafia == 1 ? 2 : 1) : mafia);
  ASSERT_EQ(room.game().state().current, phase::ended);
  EXPECT_EQ(reason_of(room.start(1)), "not_ready");
  for (connection_id c = 2; c <= 5; ++c) room.ready(c);
  EXPECT_TRUE(mafia_table::first_frame(room.start(1), "game:role"));
  EXPECT_EQ(room.game().state().round, 1u);
  EXPECT_TRUE(room.game().state().deaths.empty());
}

// ---- disconnects ----

TEST(MafiaDisconnect, AwayIsShownAtOnceAndTheGraceDecidesByTheSeatsState) {
  mafia_table room;
  room.seat(5);
  room.presence(2, presence_stage::away);
  const json::object* update = last_of(room.inbox(1), "room:update");
  EXPECT_FALSE(update->at("payload").at("players").as_array()[1].at("connected").as_bool());
  room.presence(2, presence_stage::back);
  update = last_of(room.inbox(1), "room:update");
  EXPECT_TRUE(update->at("payload").at("players").as_array()[1].at("connected").as_bool());
  room.disconnect(5);  // the grace ran out in the lobby: the seat goes
  EXPECT_EQ(room.game().state().players.size(), 4u);
  room.join(5);
  room.ready(5);
  room.start(1);
  // In the game: a living player past the grace is eliminated; the game may end with it.
  const connection_id villager = room.conn_with(role::villager);
  room.disconnect(villager);
  const auto& players = room.game().state().players;
  const auto gone = std::find_if(players.begin(), players.end(),
                                 [&](const auto& p) { return p.user_id == user_of(villager); });
  ASSERT_NE(gone, players.end());
  EXPECT_FALSE(gone->alive);
  EXPECT_TRUE(gone->gone);
  EXPECT_EQ(room.game().state().deaths.back().cause, death_cause::abandoned);
  // The mafia leaving ends the game for the village.
  const step_outcome left = room.disconnect(room.conn_with(role::mafia));
  const auto end = mafia_table::first_frame(left, "game:end");
  ASSERT_TRUE(end);
  EXPECT_EQ(str(end->at("payload").at("winner")), "villagers");
}

// ---- matched rooms ----

TEST(MafiaMatched, TheCountdownStartsTheGameWithNoHostAction) {
  json::array matched;
  for (connection_id c = 1; c <= 6; ++c) {
    matched.push_back(json::object{{"userId", user_of(c)}, {"username", "Name"}});
  }
  mafia_table room(json::object{{"matched", matched}});
  EXPECT_TRUE(room.game().state().matched);
  EXPECT_EQ(room.game().state().host_id, user_of(1));  // assigned internally
  EXPECT_EQ(room.driver().timers().at(mafia_game::countdown_timer), t0 + 1000);
  for (connection_id c = 1; c <= 6; ++c) room.join(c);
  EXPECT_TRUE(room.game().state().players[3].ready);  // matched players are ready
  const auto fired = room.advance(1000);
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_TRUE(mafia_table::first_frame(fired[0], "game:role"));
  EXPECT_EQ(room.game().state().current, phase::night);
}

TEST(MafiaMatched, TooFewArrivalsGoBackToTheQueue) {
  json::array matched;
  for (connection_id c = 1; c <= 6; ++c) {
    matched.push_back(json::object{{"userId", user_of(c)}, {"username", "Name"}});
  }
  mafia_table room(json::object{{"matched", matched}});
  room.join(1);
  room.join(2);
  const auto fired = room.advance(1000);
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_FALSE(fired[0].of_kind(effect_kind::close_room).empty());
  EXPECT_EQ(room.released().at(1), R"({"type":"matchmaking:join"})");
  EXPECT_EQ(room.released().at(2), R"({"type":"matchmaking:join"})");
}

// ---- snapshots ----

TEST(MafiaSnapshot, EveryPhaseRestoresToTheSameBytesAndPlaysOn) {
  mafia_table room;
  room.seat(6);
  room.restore();
  room.start(1);
  const connection_id mafia = room.conn_with(role::mafia);
  const connection_id villager = room.conn_with(role::villager);
  room.act(mafia, "action:mafiaKill", villager);
  room.restore();
  room.to_phase_end();
  EXPECT_FALSE(room.game().state().players[villager - 1].alive);  // the choice survived
  room.restore();
  room.to_phase_end();
  const auto living = room.living();
  EXPECT_EQ(reason_of(room.vote(living[0], living[1])), "");
  room.restore();
  EXPECT_EQ(room.game().state().votes.size(), 1u);
  EXPECT_FALSE(room.module().restore("{}"));
  EXPECT_FALSE(room.module().restore(R"({"schema":1,"game":"mafia"})"));
}

}  // namespace
}  // namespace partyd::mafia::testing
