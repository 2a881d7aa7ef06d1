// The session table's rules on a manual clock (docs/protocol/sessions.md): resume windows,
// ring overflow, ACK retries and degrade, a second connection, versions, heartbeats, restore.
#include "engine/session.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "engine/secrets.hpp"
#include "engine/session_codec.hpp"

namespace partyd {
namespace {

namespace json = boost::json;

constexpr role_id host_role = 0;
constexpr role_id player_role = 1;
constexpr time_ms t0 = 1'700'000'000'000;

session_policy test_policy() {
  session_policy policy;
  policy.host_roles = role_bit(host_role);
  return policy;
}

json::object payload_of(const frame_ptr& frame) {
  return json::parse(*frame).as_object().at("payload").as_object();
}

std::string type_of(const frame_ptr& frame) {
  return std::string(json::parse(*frame).as_object().at("type").as_string());
}

struct table_fixture {
  explicit table_fixture(session_policy chosen = test_policy())
      : policy(chosen), table(policy, "ROOM42", "ep1") {}

  session_policy policy;
  session_table table;
  std::string token;  // the player's resume token, from CONNECTED
  std::string id;

  // A player session on connection 7, with `frames` numbered frames sent to it.
  session& open_player(int frames = 0, time_ms at = t0) {
    const frame_ptr connected = table.open(7, player_role, "secret-7", "1.0", at);
    const json::object p = payload_of(connected);
    token = std::string(p.at("resumeToken").as_string());
    id = std::string(p.at("sessionId").as_string());
    session& s = *table.find_logical(7);
    for (int i = 0; i < frames; ++i) {
      table.number(s, make_frame(R"({"type":"tick","n":)" + std::to_string(i + 1) + "}"), false,
                   at);
    }
    return s;
  }

  session_request reconnect(std::uint64_t last_seq) const {
    session_request request;
    request.what = session_request::kind::reconnect;
    request.session_id = id;
    request.resume_token = token;
    request.last_seq = last_seq;
    return request;
  }

  // RECONNECT on connection 9 at `at`; the reply frame.
  frame_ptr resume_at(time_ms at, std::uint64_t last_seq, std::vector<session_action>& actions,
                      session_table::resume_outcome* outcome = nullptr) {
    session_table::resume_lookup found = table.lookup(reconnect(last_seq));
    EXPECT_TRUE(found.target && found.token_ok);
    session_view view{"PLAYING", R"({"score":3})", "c1"};
    auto result = table.resume(*found.target, 9, reconnect(last_seq), view, 42, at, actions);
    if (outcome) *outcome = result;
    for (const auto& action : actions) {
      if (action.what == session_action::kind::deliver && action.conn == 9) return action.frame;
    }
    return nullptr;
  }
};

TEST(session_table, connected_gives_a_session_id_and_a_token_kept_only_as_a_hash) {
  table_fixture f;
  f.open_player();
  EXPECT_EQ(f.id.substr(0, 5), "sess_");
  EXPECT_EQ(f.token.size(), 64u);
  const std::string persisted = f.table.encode();
  EXPECT_EQ(persisted.find(f.token), std::string::npos);
  EXPECT_NE(persisted.find(sha256_tagged(f.token)), std::string::npos);
  session_request wrong = f.reconnect(0);
  wrong.resume_token = "x" + f.token.substr(1);
  EXPECT_FALSE(f.table.lookup(wrong).token_ok);
  EXPECT_TRUE(f.table.lookup(f.reconnect(0)).token_ok);
}

TEST(session_table, numbers_run_without_gaps_and_the_frame_is_shared_not_copied) {
  table_fixture f;
  session& s = f.open_player();
  const frame_ptr shared = make_frame(R"({"type":"x"})");
  EXPECT_EQ(f.table.number(s, shared, false, t0), 1u);
  EXPECT_EQ(f.table.number(s, shared, true, t0), 2u);
  EXPECT_EQ(s.ring.back().frame.get(), shared.get());
  EXPECT_EQ(session_frame_text(s.ring.front()), R"({"sequenceId":1,"type":"x"})");
  EXPECT_EQ(session_frame_text(s.ring.back()),
            R"({"sequenceId":2,"requiresAck":true,"ackId":"ack_2","type":"x"})");
}

TEST(session_table, a_resume_at_4_9_s_gets_every_missed_frame_in_order) {
  table_fixture f;
  session& s = f.open_player(3);
  ASSERT_TRUE(f.table.detach(7, t0 + 100));
  f.table.number(s, make_frame(R"({"type":"while_away"})"), false, t0 + 200);
  std::vector<session_action> actions;
  session_table::resume_outcome outcome;
  const frame_ptr reply = f.resume_at(t0 + 100 + 4'900, 1, actions, &outcome);
  ASSERT_TRUE(reply);
  EXPECT_TRUE(outcome.backfilled);
  EXPECT_EQ(outcome.logical, 7u);
  EXPECT_EQ(type_of(reply), "RECONNECTED");
  const json::object p = payload_of(reply);
  EXPECT_EQ(p.at("recovered"), true);
  EXPECT_EQ(p.at("lastSeqId"), 4);
  EXPECT_EQ(p.at("stateVersion"), 42);
  EXPECT_EQ(p.at("currentState"), "PLAYING");
  EXPECT_EQ(p.at("gameState").at("score"), 3);
  const json::array& missed = p.at("missedEvents").as_array();
  ASSERT_EQ(missed.size(), 3u);
  EXPECT_EQ(missed[0].at("sequenceId"), 2);
  EXPECT_EQ(missed[1].at("sequenceId"), 3);
  EXPECT_EQ(missed[2].at("sequenceId"), 4);
  EXPECT_EQ(missed[2].at("type"), "while_away");
  // The new connection is an alias of the seat's logical id.
  EXPECT_EQ(f.table.logical_of(9), 7u);
  EXPECT_EQ(s.attached, 9u);
}

TEST(session_table, a_resume_at_5_1_s_gets_the_snapshot_only) {
  table_fixture f;
  f.open_player(3);
  ASSERT_TRUE(f.table.detach(7, t0));
  std::vector<session_action> actions;
  session_table::resume_outcome outcome;
  const frame_ptr reply = f.resume_at(t0 + 5'100, 1, actions, &outcome);
  ASSERT_TRUE(reply);
  EXPECT_FALSE(outcome.backfilled);
  const json::object p = payload_of(reply);
  EXPECT_TRUE(p.at("missedEvents").is_null());
  EXPECT_EQ(p.at("recovered"), false);
  EXPECT_EQ(p.at("lastSeqId"), 3);
  EXPECT_TRUE(p.contains("message"));
  EXPECT_EQ(p.at("gameState").at("score"), 3);
}

TEST(session_table, a_resume_at_29_9_s_still_resumes_and_at_30_1_s_has_expired) {
  {
    table_fixture f;
    f.open_player(1);
    ASSERT_TRUE(f.table.detach(7, t0));
    std::vector<session_action> actions;
    session_table::resume_outcome outcome;
    const frame_ptr reply = f.resume_at(t0 + 29'900, 1, actions, &outcome);
    ASSERT_TRUE(reply);
    EXPECT_EQ(type_of(reply), "RECONNECTED");
    EXPECT_EQ(outcome.logical, 7u);
  }
  {
    table_fixture f;
    f.open_player(1);
    ASSERT_TRUE(f.table.detach(7, t0));
    std::vector<session_action> actions;
    session_table::resume_outcome outcome;
    const frame_ptr reply = f.resume_at(t0 + 30'100, 1, actions, &outcome);
    ASSERT_TRUE(reply);
    EXPECT_EQ(outcome.logical, 0u);
    EXPECT_EQ(type_of(reply), "RECONNECT_FAILED");
    const json::object p = payload_of(reply);
    EXPECT_EQ(p.at("reason"), "SESSION_EXPIRED");
    EXPECT_EQ(p.at("canRejoin"), true);
    EXPECT_EQ(p.at("currentState"), "PLAYING");
    // The game hears the seat's removal; the session is gone.
    EXPECT_TRUE(std::any_of(actions.begin(), actions.end(), [](const session_action& a) {
      return a.what == session_action::kind::remove && a.logical == 7;
    }));
    EXPECT_EQ(f.table.find_logical(7), nullptr);
  }
}

TEST(session_table, the_host_gets_a_backfill_for_30_s) {
  table_fixture f;
  f.table.open(3, host_role, "secret-3", "1.0", t0);
  session& host = *f.table.find_logical(3);
  f.table.number(host, make_frame(R"({"type":"word"})"), false, t0);
  ASSERT_TRUE(f.table.detach(3, t0));
  f.table.number(host, make_frame(R"({"type":"word"})"), false, t0 + 20'000);
  session_request request;
  request.what = session_request::kind::reconnect;
  request.session_id = host.id;
  request.last_seq = 1;
  std::vector<session_action> actions;
  const auto outcome = f.table.resume(host, 5, request, session_view{}, 1, t0 + 29'000, actions);
  EXPECT_TRUE(outcome.backfilled);
  ASSERT_FALSE(actions.empty());
  EXPECT_EQ(payload_of(actions.front().frame).at("missedEvents").as_array().size(), 1u);
}

TEST(session_table, a_ring_that_no_longer_holds_the_next_frame_answers_with_the_snapshot) {
  session_policy small_ring = test_policy();
  small_ring.ring_frames = 4;
  table_fixture f(small_ring);
  f.open_player(10);  // the ring keeps 7..10
  ASSERT_TRUE(f.table.detach(7, t0));
  std::vector<session_action> actions;
  session_table::resume_outcome outcome;
  const frame_ptr partial = f.resume_at(t0 + 1'000, 5, actions, &outcome);
  EXPECT_FALSE(outcome.backfilled);  // 6 is gone: never a partial backfill
  EXPECT_TRUE(payload_of(partial).at("missedEvents").is_null());
  ASSERT_TRUE(f.table.detach(9, t0 + 2'000));
  actions.clear();
  const frame_ptr whole = f.resume_at(t0 + 3'000, 6, actions, &outcome);
  EXPECT_TRUE(outcome.backfilled);  // 7..10 are all there
  EXPECT_EQ(payload_of(whole).at("missedEvents").as_array().size(), 4u);
}

TEST(session_table, an_unacknowledged_reliable_frame_is_resent_twice_then_the_session_degrades) {
  table_fixture f;
  session& s = f.open_player();
  const frame_ptr round = make_frame(R"({"type":"ROUND_STARTED"})");
  const std::uint64_t seq = f.table.number(s, round, true, t0);
  s.last_heard = t0 + 100'000;  // heartbeats keep coming; only the ACK is missing
  std::vector<session_action> actions;
  f.table.upkeep(t0 + 1'999, actions);
  EXPECT_TRUE(actions.empty());
  for (int attempt = 2; attempt <= 3; ++attempt) {
    actions.clear();
    f.table.upkeep(t0 + 2'000 * (attempt - 1), actions);
    ASSERT_EQ(actions.size(), 1u) << attempt;
    EXPECT_EQ(actions[0].what, session_action::kind::deliver);
    EXPECT_EQ(actions[0].seq, seq);  // the same number: a resend, not a new frame
    EXPECT_TRUE(actions[0].reliable);
    EXPECT_EQ(actions[0].frame.get(), round.get());
  }
  actions.clear();
  f.table.upkeep(t0 + 6'000, actions);
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].what, session_action::kind::presence);
  EXPECT_EQ(actions[0].stage, presence_stage::degraded);
  EXPECT_TRUE(s.degraded);
  EXPECT_EQ(f.table.degraded_total(), 1u);
  actions.clear();
  f.table.upkeep(t0 + 20'000, actions);
  EXPECT_TRUE(actions.empty());  // the game goes on
}

TEST(session_table, an_ack_stops_the_resends) {
  table_fixture f;
  session& s = f.open_player();
  const std::uint64_t seq = f.table.number(s, make_frame(R"({"type":"R"})"), true, t0);
  f.table.ack(s, "ack_" + std::to_string(seq));
  s.last_heard = t0 + 100'000;
  std::vector<session_action> actions;
  f.table.upkeep(t0 + 10'000, actions);
  EXPECT_TRUE(actions.empty());
  f.table.ack(s, "nonsense");  // ignored
}

TEST(session_table, a_second_connection_of_the_session_closes_the_first) {
  table_fixture f;
  f.open_player(1);
  std::vector<session_action> actions;  // no detach: connection 7 is still open
  const frame_ptr reply = f.resume_at(t0 + 500, 1, actions);
  ASSERT_TRUE(reply);
  ASSERT_FALSE(actions.empty());
  EXPECT_EQ(actions.front().what, session_action::kind::close);
  EXPECT_EQ(actions.front().conn, 7u);
  EXPECT_EQ(actions.front().reason, "session_resumed_elsewhere");
  // The old connection's drop changes nothing any more.
  EXPECT_FALSE(f.table.detach(7, t0 + 600));
  EXPECT_EQ(f.table.find_logical(7)->attached, 9u);
}

TEST(session_table, presence_goes_away_at_5_s_warned_at_15_s_removed_at_60_s) {
  table_fixture f;
  f.open_player();
  ASSERT_TRUE(f.table.detach(7, t0));
  std::vector<session_action> actions;
  f.table.upkeep(t0 + 4'999, actions);
  EXPECT_TRUE(actions.empty());
  EXPECT_EQ(f.table.next_deadline(), t0 + 5'000);
  f.table.upkeep(t0 + 5'000, actions);
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].stage, presence_stage::away);
  actions.clear();
  f.table.upkeep(t0 + 15'000, actions);
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].stage, presence_stage::warned);
  actions.clear();
  EXPECT_EQ(f.table.next_deadline(), t0 + 60'000);
  f.table.upkeep(t0 + 60'000, actions);
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].what, session_action::kind::remove);
  EXPECT_EQ(f.table.size(), 0u);
}

TEST(session_table, a_resume_after_away_tells_the_game_back) {
  table_fixture f;
  f.open_player();
  ASSERT_TRUE(f.table.detach(7, t0));
  std::vector<session_action> actions;
  f.table.upkeep(t0 + 6'000, actions);
  actions.clear();
  f.resume_at(t0 + 7'000, 0, actions);
  EXPECT_TRUE(std::any_of(actions.begin(), actions.end(), [](const session_action& a) {
    return a.what == session_action::kind::presence && a.stage == presence_stage::back;
  }));
}

TEST(session_table, no_message_for_20_s_closes_the_connection) {
  table_fixture f;
  session& s = f.open_player();
  std::vector<session_action> actions;
  f.table.heard(s, t0 + 5'000);
  f.table.upkeep(t0 + 24'999, actions);
  EXPECT_TRUE(actions.empty());
  f.table.upkeep(t0 + 25'000, actions);
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].what, session_action::kind::close);
  EXPECT_EQ(actions[0].reason, "heartbeat_timeout");
  EXPECT_EQ(s.attached, 0u);
}

TEST(session_table, a_heartbeat_with_the_wrong_checksum_gets_the_full_state) {
  table_fixture f;
  session& s = f.open_player(2);
  session_request beat;
  beat.what = session_request::kind::heartbeat;
  beat.state_checksum = "c1";
  const session_view view{"PLAYING", R"({"score":3})", "c1"};
  const frame_ptr ok = f.table.heartbeat(s, beat, view, 9, t0);
  EXPECT_EQ(type_of(ok), "HEARTBEAT_ACK");
  EXPECT_EQ(payload_of(ok).at("stateVersion"), 9);
  beat.state_checksum = "stale";
  const frame_ptr resync = f.table.heartbeat(s, beat, view, 9, t0);
  EXPECT_EQ(type_of(resync), "STATE_SNAPSHOT");
  EXPECT_EQ(payload_of(resync).at("gameState").at("score"), 3);
  EXPECT_EQ(payload_of(resync).at("stateChecksum"), "c1");
  EXPECT_EQ(payload_of(resync).at("lastSeqId"), 2);
}

TEST(session_table, a_restored_table_resumes_every_seat_without_backfill_and_never_reuses_numbers) {
  table_fixture f;
  session& s = f.open_player(5);
  f.table.remember(s, "m1", {R"({"type":"ok"})"});
  const std::string persisted = f.table.encode();
  session_table restored(f.policy, "ROOM42", "ep2");
  ASSERT_TRUE(restored.restore(persisted, t0 + 60'000));
  session* back = restored.find_logical(7);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->attached, 0u);
  ASSERT_TRUE(restored.answered(*back, "m1"));
  EXPECT_EQ(restored.answered(*back, "m1")->frames.front(), R"({"type":"ok"})");
  session_request request = f.reconnect(8);  // the client saw 3 frames the snapshot missed
  auto found = restored.lookup(request);
  ASSERT_TRUE(found.target && found.token_ok);
  std::vector<session_action> actions;
  const auto outcome =
      restored.resume(*found.target, 11, request, session_view{}, 1, t0 + 61'000, actions);
  EXPECT_FALSE(outcome.backfilled);
  // The game kept no connection across the restart: it hears the seat is back.
  EXPECT_TRUE(std::any_of(actions.begin(), actions.end(), [](const session_action& a) {
    return a.what == session_action::kind::presence && a.stage == presence_stage::back;
  }));
  const json::object p = payload_of(actions.front().frame);
  EXPECT_EQ(p.at("recovered"), false);
  EXPECT_EQ(p.at("epoch"), "ep2");
  EXPECT_EQ(p.at("lastSeqId"), 8);
  EXPECT_EQ(restored.number(*back, make_frame("{}"), false, t0 + 61'000), 9u);
  EXPECT_FALSE(restored.restore("[{\"id\":1}]", t0));
  EXPECT_FALSE(restored.restore("not json", t0));
}

TEST(session_table, the_answer_window_keeps_the_last_ids_and_large_answers_as_applied_only) {
  session_policy small_window = test_policy();
  small_window.answer_window = 2;
  small_window.answer_max_bytes = 8;
  table_fixture f(small_window);
  session& s = f.open_player();
  f.table.remember(s, "a", {"{}"});
  f.table.remember(s, "b", {std::string(100, 'x')});
  f.table.remember(s, "c", {"{}"});
  EXPECT_EQ(f.table.answered(s, "a"), nullptr);
  ASSERT_TRUE(f.table.answered(s, "b"));
  EXPECT_FALSE(f.table.answered(s, "b")->complete);
  EXPECT_TRUE(f.table.answered(s, "c")->complete);
}

TEST(session_versions, minor_versions_are_compatible_and_the_last_two_majors_supported) {
  EXPECT_TRUE(version_compatible("1.0", "1.0", 2));
  EXPECT_TRUE(version_compatible("1.0", "1.1", 2));
  EXPECT_TRUE(version_compatible("1.5", "1.1", 2));  // a newer minor only adds
  EXPECT_TRUE(version_compatible("1.9", "2.0", 2));
  EXPECT_FALSE(version_compatible("1.0", "3.0", 2));
  EXPECT_FALSE(version_compatible("2.0", "1.0", 2));
  EXPECT_FALSE(version_compatible("1", "1.0", 2));
  EXPECT_FALSE(version_compatible("1.x", "1.0", 2));
  EXPECT_FALSE(version_compatible("", "1.0", 2));
}

TEST(session_codec, session_messages_are_read_and_others_pass_to_the_game) {
  const session_policy policy = test_policy();
  auto resume = decode_session_fields(
      R"({"type":"RECONNECT","roomId":"ROOM42","version":"1.0","payload":{"sessionId":"sess_1","resumeToken":"t","lastSeqId":4}})",
      true, policy);
  ASSERT_EQ(resume.result, session_decode::outcome::session_message);
  EXPECT_EQ(resume.room_code, "ROOM42");
  EXPECT_EQ(resume.request.last_seq, 4u);
  EXPECT_EQ(resume.request.version, "1.0");

  auto upgrade = decode_session_fields(R"({"type":"join","version":"3.0"})", true, policy);
  EXPECT_EQ(upgrade.result, session_decode::outcome::error);
  EXPECT_EQ(upgrade.error_code, "UPGRADE_REQUIRED");
  EXPECT_TRUE(upgrade.error_closes);

  auto command = decode_session_fields(R"({"type":"vote","clientMsgId":"m-1"})", false, policy);
  EXPECT_EQ(command.result, session_decode::outcome::game_message);
  EXPECT_EQ(command.request.client_msg_id, "m-1");

  auto ack = decode_session_fields(R"({"type":"ACK","payload":{"ackId":"ack_3"}})", false, policy);
  EXPECT_EQ(ack.result, session_decode::outcome::session_message);
  EXPECT_EQ(ack.request.what, session_request::kind::ack);

  for (const char* bad : {R"({"type":"ACK","payload":{}})", R"({"type":"RECONNECT"})",
                          R"({"type":"HEARTBEAT"})", R"({"type":"vote","clientMsgId":5})"}) {
    EXPECT_EQ(decode_session_fields(bad, false, policy).result, session_decode::outcome::error)
        << bad;
  }
  EXPECT_EQ(decode_session_fields(R"({"type":"ACK","payload":{"ackId":"a"}})", true, policy).result,
            session_decode::outcome::error);
  EXPECT_EQ(decode_session_fields("not json", true, policy).result,
            session_decode::outcome::game_message);
}

}  // namespace
}  // namespace partyd
