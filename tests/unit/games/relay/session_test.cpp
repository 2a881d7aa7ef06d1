// The relay's side of sessions (docs/protocol/relay.md, Sessions): what the host hears of a
// player's presence, each viewer's state for a resume, and seats a session resumes after a
// restore. The engine's side is tests/unit/engine/session*_test.cpp.
#include <gtest/gtest.h>

#include "tests/unit/games/relay/relay_harness.hpp"

namespace partyd::relay::testing {
namespace {

outcome presence(harness& h, connection_id conn, presence_stage stage) {
  input in;
  in.kind = input_kind::presence;
  in.conn = conn;
  in.stage = stage;
  return h.driver().step(in);
}

TEST(RelaySessions, TheHostHearsAPlayerAwayAndBackOnceEach) {
  harness h;
  h.join_host(1);
  const std::string player = h.join_player(2);
  outcome away = presence(h, 2, presence_stage::away);
  ASSERT_EQ(away.to(1).size(), 1u);
  EXPECT_EQ(away.only(1).at("type"), "client_disconnected");
  EXPECT_EQ(str(away.only(1).at("clientId")), player);
  EXPECT_TRUE(presence(h, 2, presence_stage::warned).to(1).empty());
  EXPECT_TRUE(presence(h, 2, presence_stage::away).to(1).empty());  // told once
  outcome back = presence(h, 2, presence_stage::back);
  ASSERT_EQ(back.to(1).size(), 1u);
  EXPECT_EQ(back.only(1).at("type"), "client_joined");
  EXPECT_EQ(back.only(1).at("reconnected"), true);
  // Removal after another absence: the host heard `away` already and hears nothing twice.
  presence(h, 2, presence_stage::away);
  EXPECT_TRUE(h.disconnect(2).to(1).empty());
  EXPECT_EQ(h.relay().state().seats.at(player).conn, 0u);
}

TEST(RelaySessions, TheHostHearsWhichPlayerOrWatcherIsDegraded) {
  harness h;
  h.join_host(1);
  const std::string player = h.join_player(2);
  const std::string watcher = h.join_audience(3);
  outcome seat = presence(h, 2, presence_stage::degraded);
  ASSERT_EQ(seat.to(1).size(), 1u);
  EXPECT_EQ(seat.only(1),
            (json::object{{"type", "client_degraded"}, {"clientId", player}, {"role", "player"}}));
  EXPECT_TRUE(seat.to(2).empty());  // nobody else hears of it
  EXPECT_TRUE(seat.to(3).empty());
  EXPECT_TRUE(seat.broadcasts().empty());
  outcome audience = presence(h, 3, presence_stage::degraded);
  ASSERT_EQ(audience.to(1).size(), 1u);
  EXPECT_EQ(audience.only(1).at("role"), "audience");
  EXPECT_EQ(str(audience.only(1).at("clientId")), watcher);
  // Without a host nothing is queued: a host that connects later gets the client list.
  harness alone;
  alone.join_host(1);
  alone.join_player(2);
  alone.disconnect(1);
  const outcome unheard = presence(alone, 2, presence_stage::degraded);
  EXPECT_TRUE(unheard.of_kind(effect_kind::send).empty());
  EXPECT_TRUE(unheard.broadcasts().empty());
}

TEST(RelaySessions, EachViewerSeesOnlyItsOwnState) {
  harness h;
  h.join_host(1);
  const std::string a = h.join_player(2);
  const std::string b = h.join_player(3);
  h.join_audience(4);
  h.send(1, {{"type", "set_game_state"}, {"state", {{"round", 2}}}});
  h.send(1, {{"type", "set_player_state"}, {"clientId", a}, {"state", {{"word", "apple"}}}});
  h.send(1, {{"type", "set_player_state"}, {"clientId", b}, {"state", {{"word", "pear"}}}});
  const session_view view_a = h.instance().view_of(2, 0);
  const json::object state_a = json::parse(view_a.state_json).as_object();
  EXPECT_EQ(state_a.at("role"), "player");
  EXPECT_EQ(str(state_a.at("clientId")), a);
  EXPECT_EQ(state_a.at("playerState").at("word"), "apple");
  EXPECT_EQ(state_a.at("gameState").at("round"), 2);
  EXPECT_EQ(view_a.state_json.find("pear"), std::string::npos);
  EXPECT_EQ(view_a.state_json.find(h.seat_token(a)), std::string::npos);
  const session_view view_b = h.instance().view_of(3, 0);
  EXPECT_EQ(view_b.state_json.find("apple"), std::string::npos);
  const session_view watcher = h.instance().view_of(4, 0);
  EXPECT_EQ(json::parse(watcher.state_json).at("role"), "audience");
  EXPECT_EQ(watcher.state_json.find("apple"), std::string::npos);
  EXPECT_EQ(watcher.state_json.find("pear"), std::string::npos);
  EXPECT_TRUE(h.instance().view_of(1, 0).state_json.empty());  // the host has no session
  EXPECT_TRUE(h.instance().view_of(99, 0).state_json.empty());
}

TEST(RelaySessions, ARestoredSeatIsResumedByItsSessionAndTheHostHearsIt) {
  harness h;
  h.join_host(1);
  const std::string player = h.join_player(2);
  h.send(1, {{"type", "set_player_state"}, {"clientId", player}, {"state", {{"word", "fig"}}}});
  h.join_audience(3);
  harness restored(h.driver().restore_round_trip());
  EXPECT_TRUE(restored.instance().holds_session(2));
  EXPECT_FALSE(restored.instance().holds_session(3));  // the audience is not persisted
  EXPECT_FALSE(restored.instance().holds_session(1));
  // The resume asks for the view before the seat is the connection's again.
  EXPECT_EQ(json::parse(restored.instance().view_of(2, 0).state_json).at("playerState").at("word"),
            "fig");
  restored.handshake(5, {{"role", "host"}, {"hostKey", h.host_key()}});
  outcome back = presence(restored, 2, presence_stage::back);
  ASSERT_EQ(back.to(5).size(), 1u);
  EXPECT_EQ(back.only(5).at("type"), "client_joined");
  EXPECT_EQ(str(back.only(5).at("clientId")), player);
  EXPECT_EQ(restored.relay().state().seats.at(player).conn, 2u);
  // The seat speaks again through its session's id.
  restored.driver().mark_routed(2);
  outcome sent = restored.send(2, {{"type", "message_to_host"}, {"message", "hi"}});
  ASSERT_EQ(sent.to(5).size(), 1u);
  EXPECT_EQ(sent.only(5).at("type"), "client_message");
}

TEST(RelaySessions, AReclaimByTokenEndsTheSeatsOldSession) {
  harness h;
  h.join_host(1);
  const std::string player = h.join_player(2);
  presence(h, 2, presence_stage::away);
  outcome reclaimed = h.handshake(6, {{"role", "player"}, {"clientId", player}});
  bool closed_old = false;
  for (const effect& e : reclaimed.effects) {
    if (e.kind == effect_kind::close_connection && e.conn == 2) closed_old = true;
  }
  EXPECT_TRUE(closed_old);  // the engine ends the session with the connection
  EXPECT_EQ(h.relay().state().seats.at(player).conn, 6u);
  EXPECT_EQ(h.relay().state().seats.at(player).resume_conn, 6u);
}

}  // namespace
}  // namespace partyd::relay::testing
