// The session layer in the worker, with the echo game and recording sinks: numbering per
// recipient of one shared frame, a seat that outlives its connection, idempotent commands,
// one connection per session, and a room restored with its sessions.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "engine/room_snapshot.hpp"
#include "tests/unit/engine/test_game.hpp"

namespace partyd::testing {
namespace {

namespace json = boost::json;

session_policy echo_sessions() {
  session_policy policy;
  policy.host_roles = role_bit(role_host);
  return policy;
}

// Windows in multiples of `step` ms: away at 1, warned at 2, removed at 4; a resume backfills
// within 2/3 and is refused past 10/3 (the same for the host).
session_policy short_windows(time_ms step) {
  session_policy fast = echo_sessions();
  fast.away_ms = step;
  fast.warning_ms = 2 * step;
  fast.removal_ms = 4 * step;
  fast.backfill_ms = 2 * step / 3;
  fast.resume_ms = 10 * step / 3;
  fast.host_backfill_ms = fast.backfill_ms;
  fast.host_resume_ms = fast.resume_ms;
  return fast;
}

json::object parsed(const std::string& frame) { return json::parse(frame).as_object(); }

struct session_fixture : echo_fixture {
  explicit session_fixture(session_policy policy = echo_sessions(),
                           runtime_options options = runtime_options{})
      : echo_fixture(std::move(options), policy) {
    rt->start();
  }

  // A first message with `version`, as io hands it over.
  std::shared_ptr<recording_sink> join(const std::shared_ptr<room>& target, connection_id conn,
                                       echo_role role) {
    auto sink = std::make_shared<recording_sink>(conn);
    room_input in;
    in.in.kind = input_kind::command;
    in.in.conn = conn;
    in.in.cmd = make_command(in_join, role);
    in.in.secret = "secret-" + std::to_string(conn);
    in.session.version = "1.0";
    in.sink = sink;
    rt->submit(target, std::move(in));
    return sink;
  }

  void command(const std::shared_ptr<room>& target, connection_id conn, command_ptr cmd,
               std::string client_msg_id = {}) {
    room_input in;
    in.in.kind = input_kind::command;
    in.in.conn = conn;
    in.in.cmd = std::move(cmd);
    in.session.client_msg_id = std::move(client_msg_id);
    rt->submit(target, std::move(in));
  }

  void heartbeat(const std::shared_ptr<room>& target, connection_id conn, std::string checksum) {
    room_input in;
    in.in.kind = input_kind::command;
    in.in.conn = conn;
    in.session.what = session_request::kind::heartbeat;
    in.session.state_checksum = std::move(checksum);
    rt->submit(target, std::move(in));
  }

  // A new room with connection 1 seated as a player (CONNECTED and welcome received) and its
  // worker done with that turn, so whether the next input wakes the room does not depend on how
  // fast the worker let go of it; a null sink when that did not happen in time.
  std::pair<std::shared_ptr<room>, std::shared_ptr<recording_sink>> seat_player() {
    auto target = create();
    auto player = join(target, 1, role_player);
    if (!player->wait_frames(2) || !eventually([&] { return !target->scheduled(); })) {
      player.reset();
    }
    return {target, player};
  }

  // A heartbeat as io hands it over: it may wait for the room's next turn.
  push_result heartbeat_lazily(const std::shared_ptr<room>& target, connection_id conn,
                               runtime::deferred_wakes& wakes) {
    room_input in;
    in.in.kind = input_kind::command;
    in.in.conn = conn;
    in.session.what = session_request::kind::heartbeat;
    in.session.state_checksum = "sum-1";
    return rt->submit_lazily(target, std::move(in), wakes);
  }

  void drop(const std::shared_ptr<room>& target, connection_id conn) {
    room_input in;
    in.in.kind = input_kind::disconnect;
    in.in.conn = conn;
    rt->submit(target, std::move(in), true);
  }

  std::shared_ptr<recording_sink> reconnect(const std::shared_ptr<room>& target, connection_id conn,
                                            const json::object& connected, std::uint64_t last_seq) {
    auto sink = std::make_shared<recording_sink>(conn);
    room_input in;
    in.in.kind = input_kind::command;
    in.in.conn = conn;
    in.session.what = session_request::kind::reconnect;
    in.session.session_id = std::string(connected.at("payload").at("sessionId").as_string());
    in.session.resume_token = std::string(connected.at("payload").at("resumeToken").as_string());
    in.session.last_seq = last_seq;
    in.sink = sink;
    rt->submit(target, std::move(in));
    return sink;
  }
};

TEST(session_worker, a_bound_connection_gets_connected_then_numbered_frames) {
  session_fixture f;
  auto target = f.create();
  auto player = f.join(target, 1, role_player);
  ASSERT_TRUE(player->wait_frames(2));
  const auto frames = player->frames();
  EXPECT_EQ(parsed(frames[0]).at("type"), "CONNECTED");
  EXPECT_EQ(parsed(frames[0]).at("payload").at("serverVersion"), "1.0");
  const auto numbered = player->numbered();
  ASSERT_EQ(numbered.size(), 1u);
  EXPECT_EQ(*numbered[0].frame, "welcome:1");
  EXPECT_EQ(numbered[0].seq, 1u);
}

TEST(session_worker, a_broadcast_is_one_frame_with_a_number_per_recipient) {
  session_fixture f;
  auto target = f.create();
  auto a = f.join(target, 1, role_player);
  ASSERT_TRUE(a->wait_frames(2));
  f.command(target, 1, make_command(in_echo, 0, "x"));  // a is one frame ahead of b
  ASSERT_TRUE(a->wait_frames(3));
  auto b = f.join(target, 2, role_player);
  ASSERT_TRUE(b->wait_frames(2));
  f.command(target, 1, make_command(in_broadcast, 0, R"({"type":"all"})", 0, 0xff));
  ASSERT_TRUE(a->wait_frames(4));
  ASSERT_TRUE(b->wait_frames(3));
  const auto to_a = a->numbered().back();
  const auto to_b = b->numbered().back();
  EXPECT_EQ(to_a.frame.get(), to_b.frame.get());  // serialized once
  EXPECT_EQ(to_a.seq, 3u);
  EXPECT_EQ(to_b.seq, 2u);
}

TEST(session_worker, a_seat_outlives_its_connection_and_the_resume_gets_what_it_missed) {
  session_fixture f;
  auto target = f.create();
  auto player = f.join(target, 1, role_player);
  ASSERT_TRUE(player->wait_frames(2));
  const json::object connected = parsed(player->frames()[0]);
  f.drop(target, 1);
  auto watcher = f.join(target, 2, role_audience);
  ASSERT_TRUE(watcher->wait_frames(2));
  f.command(target, 2, make_command(in_broadcast, 0, R"({"type":"while_away"})", 0, 0xff));
  ASSERT_TRUE(watcher->wait_frames(3));

  auto again = f.reconnect(target, 7, connected, 1);
  ASSERT_TRUE(again->wait_frames(1));
  const json::object reply = parsed(again->frames()[0]);
  ASSERT_EQ(reply.at("type"), "RECONNECTED") << again->frames()[0];
  EXPECT_EQ(reply.at("payload").at("recovered"), true);
  EXPECT_EQ(reply.at("payload").at("gameState").at("role"), "1");
  const json::array& missed = reply.at("payload").at("missedEvents").as_array();
  ASSERT_EQ(missed.size(), 1u);
  EXPECT_EQ(missed[0].at("sequenceId"), 2);
  EXPECT_EQ(missed[0].at("type"), "while_away");
  ASSERT_TRUE(again->wait_binds(1));

  // The new connection speaks for the seat: the game sees connection 1, and never a disconnect.
  f.command(target, 7, make_command(in_echo, 0, "back"));
  ASSERT_TRUE(again->wait_frames(2));
  EXPECT_EQ(*again->numbered().back().frame, "echo:back");
  EXPECT_EQ(again->numbered().back().seq, 3u);
  const auto steps = f.log->steps();
  EXPECT_TRUE(std::none_of(steps.begin(), steps.end(), [](const step_record& r) {
    return r.kind == input_kind::disconnect && r.conn == 1;
  }));
  EXPECT_TRUE(std::any_of(steps.begin(), steps.end(), [](const step_record& r) {
    return r.kind == input_kind::command && r.conn == 1 && r.text == "back";
  }));
}

TEST(session_worker, a_wrong_token_is_refused_and_closed) {
  session_fixture f;
  auto target = f.create();
  auto player = f.join(target, 1, role_player);
  ASSERT_TRUE(player->wait_frames(2));
  json::object connected = parsed(player->frames()[0]);
  connected["payload"].as_object()["resumeToken"] = "not-the-token";
  auto thief = f.reconnect(target, 9, connected, 0);
  ASSERT_TRUE(thief->wait_closed());
  const json::object reply = parsed(thief->frames().at(0));
  EXPECT_EQ(reply.at("type"), "RECONNECT_FAILED");
  EXPECT_EQ(reply.at("payload").at("reason"), "SESSION_NOT_FOUND");
  EXPECT_FALSE(reply.at("payload").as_object().contains("gameState"));
  EXPECT_EQ(player->closes().size(), 0u);  // the seat's own connection is untouched
}

TEST(session_worker, a_second_connection_of_a_session_closes_the_first) {
  session_fixture f;
  auto target = f.create();
  auto first = f.join(target, 1, role_player);
  ASSERT_TRUE(first->wait_frames(2));
  auto second = f.reconnect(target, 4, parsed(first->frames()[0]), 1);
  ASSERT_TRUE(first->wait_closed());
  EXPECT_EQ(first->closes()[0].reason, "session_resumed_elsewhere");
  ASSERT_TRUE(second->wait_frames(1));
  EXPECT_EQ(parsed(second->frames()[0]).at("type"), "RECONNECTED");
}

TEST(session_worker, a_command_repeated_with_its_client_msg_id_runs_once_and_is_answered_again) {
  session_fixture f;
  auto target = f.create();
  auto player = f.join(target, 1, role_player);
  ASSERT_TRUE(player->wait_frames(2));
  f.command(target, 1, make_command(in_echo, 0, "vote"), "m-1");
  f.command(target, 1, make_command(in_echo, 0, "vote"), "m-1");
  f.command(target, 1, make_command(in_echo, 0, "vote"), "m-2");
  ASSERT_TRUE(player->wait_frames(5));
  const auto numbered = player->numbered();
  EXPECT_EQ(*numbered[1].frame, "echo:vote");
  EXPECT_EQ(*numbered[2].frame, "echo:vote");  // the same answer
  EXPECT_EQ(numbered[2].seq, numbered[1].seq + 1);
  const auto steps = f.log->steps();
  EXPECT_EQ(std::count_if(steps.begin(), steps.end(),
                          [](const step_record& r) {
                            return r.kind == input_kind::command && r.text == "vote";
                          }),
            2);
}

TEST(session_worker, a_reliable_frame_carries_its_ack_request) {
  session_fixture f;
  auto target = f.create();
  auto player = f.join(target, 1, role_player);
  ASSERT_TRUE(player->wait_frames(2));
  f.command(target, 1, make_command(in_reliable, 0, R"({"type":"ROUND_STARTED"})", 0, 0xff));
  ASSERT_TRUE(player->wait_frames(3));
  EXPECT_TRUE(player->numbered().back().reliable);
}

TEST(session_worker, a_restored_room_resumes_its_sessions_with_a_new_epoch_and_no_backfill) {
  session_fixture f;
  session_table before(echo_sessions(), "ROOMAB", "old-epoch");
  const frame_ptr connected = before.open(1, role_player, "secret-1", "1.0", 1000);
  before.number(*before.find_logical(1), make_frame("{}"), false, 1000);
  room_snapshot snapshot;
  snapshot.game = "echo";
  snapshot.code = "ROOMAB";
  snapshot.created_at = f.rt->now();
  snapshot.last_activity = f.rt->now();
  snapshot.version = 5;
  snapshot.state = "echo:v1";
  snapshot.sessions = before.encode();
  ASSERT_TRUE(f.rt->restore_room(encode_room_snapshot(snapshot)).ok);
  auto target = f.rt->find("ROOMAB");
  ASSERT_TRUE(target);
  auto again = f.reconnect(target, 3, parsed(*connected), 1);
  ASSERT_TRUE(again->wait_frames(1));
  const json::object reply = parsed(again->frames()[0]);
  ASSERT_EQ(reply.at("type"), "RECONNECTED");
  EXPECT_EQ(reply.at("payload").at("recovered"), false);
  EXPECT_TRUE(reply.at("payload").at("missedEvents").is_null());
  EXPECT_NE(reply.at("payload").at("epoch"), "old-epoch");
  EXPECT_EQ(reply.at("payload").at("lastSeqId"), 1);
}

TEST(session_worker, a_heartbeat_is_acknowledged_or_answered_with_the_viewers_state) {
  session_fixture f;
  auto target = f.create();
  auto player = f.join(target, 1, role_player);
  ASSERT_TRUE(player->wait_frames(2));
  f.heartbeat(target, 1, "sum-1");  // the echo game's checksum of a player
  ASSERT_TRUE(player->wait_frames(3));
  EXPECT_EQ(parsed(player->frames()[2]).at("type"), "HEARTBEAT_ACK");
  f.heartbeat(target, 1, "stale");
  ASSERT_TRUE(player->wait_frames(4));
  const json::object resync = parsed(player->frames()[3]);
  EXPECT_EQ(resync.at("type"), "STATE_SNAPSHOT");
  EXPECT_EQ(resync.at("payload").at("gameState").at("role"), "1");
  EXPECT_EQ(player->numbered().size(), 1u);  // neither is numbered
  const auto steps = f.log->steps();
  EXPECT_EQ(std::count_if(steps.begin(), steps.end(),
                          [](const step_record& r) { return r.kind == input_kind::command; }),
            1);  // the game saw the join only
}

TEST(session_worker, a_dropped_seat_goes_away_then_warned_then_is_removed) {
  session_fixture f(short_windows(30));
  auto target = f.create();
  auto player = f.join(target, 1, role_player);
  ASSERT_TRUE(player->wait_frames(2));
  f.drop(target, 1);
  ASSERT_TRUE(f.log->wait_kind(input_kind::disconnect, target->code()));
  const auto steps = f.log->steps();
  std::vector<std::uint64_t> stages;
  for (const auto& r : steps) {
    if (r.kind == input_kind::presence && r.conn == 1) stages.push_back(r.number);
  }
  EXPECT_EQ(stages,
            (std::vector<std::uint64_t>{static_cast<std::uint64_t>(presence_stage::away),
                                        static_cast<std::uint64_t>(presence_stage::warned)}));
  const auto removed = std::find_if(steps.begin(), steps.end(), [](const step_record& r) {
    return r.kind == input_kind::disconnect;
  });
  EXPECT_EQ(removed->conn, 1u);
  // The session is gone: a resume now finds nothing.
  auto late = f.reconnect(target, 8, parsed(player->frames()[0]), 1);
  ASSERT_TRUE(late->wait_closed());
  EXPECT_EQ(parsed(late->frames().at(0)).at("payload").at("reason"), "SESSION_NOT_FOUND");
}

TEST(session_worker, a_removed_seat_is_out_of_the_broadcast_the_game_sends_about_its_removal) {
  session_fixture f(short_windows(10));
  f.log->broadcast_on_disconnect = true;
  auto target = f.create();
  auto leaving = f.join(target, 1, role_player);
  auto staying = f.join(target, 2, role_player);
  ASSERT_TRUE(leaving->wait_frames(2));
  ASSERT_TRUE(staying->wait_frames(2));
  f.drop(target, 1);
  // The removal's step broadcasts to every role while the removed seat is still in the room.
  ASSERT_TRUE(f.log->wait_kind(input_kind::disconnect, target->code()));
  ASSERT_TRUE(staying->wait_frames(3));
  const auto numbered = staying->numbered();
  EXPECT_EQ(*numbered.back().frame, "left:1");
  EXPECT_EQ(numbered.back().seq, 2u);
  EXPECT_EQ(leaving->frames().size(), 2u);
  // The room goes on: the remaining seat still gets numbered frames.
  f.command(target, 2, make_command(in_echo, 0, "still here"));
  ASSERT_TRUE(staying->wait_frames(4));
  EXPECT_EQ(staying->numbered().back().seq, 3u);
}

TEST(session_worker, a_heartbeat_that_may_wait_wakes_nobody_and_is_still_answered) {
  session_fixture f;
  auto [target, player] = f.seat_player();
  ASSERT_TRUE(player);
  runtime::deferred_wakes wakes;
  ASSERT_EQ(f.heartbeat_lazily(target, 1, wakes), push_result::accepted);
  EXPECT_TRUE(wakes.empty());  // the room is listed with its worker's lazy ones instead
  // The worker sleeps without a bound here (no timers due soon): the listing wakes it.
  ASSERT_TRUE(player->wait_frames(3));
  EXPECT_EQ(parsed(player->frames()[2]).at("type"), "HEARTBEAT_ACK");
  // While heartbeats keep coming, the worker takes them in its bounded sleeps.
  for (int beat = 0; beat < 20; ++beat) {
    ASSERT_EQ(f.heartbeat_lazily(target, 1, wakes), push_result::accepted);
    ASSERT_TRUE(player->wait_frames(4 + beat));
  }
  EXPECT_TRUE(wakes.empty());
}

TEST(session_worker, a_command_behind_a_waiting_heartbeat_wakes_the_room_and_keeps_the_order) {
  session_fixture f;
  auto [target, player] = f.seat_player();
  ASSERT_TRUE(player);
  runtime::deferred_wakes wakes;
  ASSERT_EQ(f.heartbeat_lazily(target, 1, wakes), push_result::accepted);
  f.command(target, 1, make_command(in_echo, 0, "now"));  // through submit(): claims and wakes
  ASSERT_TRUE(player->wait_frames(4));
  const auto frames = player->frames();
  EXPECT_EQ(parsed(frames[2]).at("type"), "HEARTBEAT_ACK");
  EXPECT_EQ(*player->numbered().back().frame, "echo:now");
}

TEST(session_worker, with_no_control_delay_a_heartbeat_wakes_its_room_like_any_input) {
  runtime_options options;
  options.session_control_delay_ms = 0;
  session_fixture f(echo_sessions(), options);
  auto [target, player] = f.seat_player();
  ASSERT_TRUE(player);
  // A room its worker has not let go of yet (slow under TSan) needs no wake: the worker takes the
  // heartbeat itself. Of a few heartbeats, each sent once the room settled, one must hand its
  // wake to the io thread (with the default delay none ever does: the test above).
  bool woke = false;
  for (std::size_t beat = 0; beat < 20 && !woke; ++beat) {
    ASSERT_TRUE(eventually([&] { return !target->scheduled(); }));
    runtime::deferred_wakes wakes;
    ASSERT_EQ(f.heartbeat_lazily(target, 1, wakes), push_result::accepted);
    woke = !wakes.empty();
    if (woke) {
      EXPECT_EQ(wakes.size(), 1u);  // handed to the worker with the io thread's other wakes
      f.rt->wake(wakes);
    }
    ASSERT_TRUE(player->wait_frames(3 + beat));
    EXPECT_EQ(parsed(player->frames()[2 + beat]).at("type"), "HEARTBEAT_ACK");
  }
  EXPECT_TRUE(woke);
}

}  // namespace
}  // namespace partyd::testing
