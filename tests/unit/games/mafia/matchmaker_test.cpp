// The public matchmaking queue on a manual clock (docs/protocol/mafia.md, "Public matchmaking"):
// groups form at 10 at once, at 6 after the fill window, at 4 after the longest wait; a formed
// group asks for a room and its players are moved there; away players keep their place; a
// refused room puts everyone back in line; a restored queue asks again for unanswered rooms.
#include <string>

#include <gtest/gtest.h>

#include "mafia_harness.hpp"

namespace partyd::mafia::testing {
namespace {

class queue_table : public mafia_table {
 public:
  queue_table() : mafia_table(json::object{{"queue", true}}, fast_config(), 7, "matchmaking") {}
  step_outcome enqueue(connection_id conn) { return send(conn, msg("matchmaking:join")); }
  step_outcome answer(std::uint64_t request, std::string code) {
    auto reply = std::make_unique<room_created_reply>();
    reply->code = std::move(code);
    if (reply->code.empty()) reply->error = "limit_reached";
    input in;
    in.kind = input_kind::room_created;
    in.timer_key = request;
    in.cmd = std::move(reply);
    return engine(std::move(in));
  }
};

std::vector<const effect*> creations(const step_outcome& s) {
  return s.of_kind(effect_kind::create_room);
}

TEST(MafiaQueue, TenWaitingFormAGroupAtOnceAndAreMovedIntoItsRoom) {
  queue_table q;
  for (connection_id c = 1; c <= 9; ++c) {
    const step_outcome joined = q.enqueue(c);
    EXPECT_TRUE(creations(joined).empty()) << c;
    const auto queued = mafia_table::first_frame(joined, "matchmaking:queued");
    ASSERT_TRUE(queued);
    EXPECT_EQ(queued->at("payload").at("position").as_int64(), static_cast<std::int64_t>(c));
  }
  const step_outcome tenth = q.enqueue(10);
  const auto asked = creations(tenth);
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0]->fields.at("matched").as_array().size(), 10u);
  EXPECT_EQ(str(asked[0]->fields.at("matched").as_array()[0].at("userId")), user_of(1));
  EXPECT_TRUE(q.queue().state().waiting.empty());
  const step_outcome made = q.answer(asked[0]->timer_key, "ABCD23");
  for (connection_id c = 1; c <= 10; ++c) {
    const auto found = mafia_table::first_frame(made, "matchmaking:found");
    ASSERT_TRUE(found);
    EXPECT_EQ(str(found->at("payload").at("roomId")), "ABCD23");
    EXPECT_EQ(q.released().at(c), R"({"type":"room:join","payload":{"roomCode":"ABCD23"}})");
  }
  EXPECT_TRUE(q.queue().state().forming.empty());
  EXPECT_TRUE(q.answer(asked[0]->timer_key, "ABCD23").unchanged);  // a second answer
}

TEST(MafiaQueue, SixFormAGroupAfterTheFillWindowAndFourAfterTheLongestWait) {
  queue_table q;
  for (connection_id c = 1; c <= 6; ++c) q.enqueue(c);
  EXPECT_EQ(q.driver().timers().at(mafia_matchmaker::match_timer), t0 + 5000);
  q.advance(4999);
  EXPECT_EQ(q.queue().state().waiting.size(), 6u);
  const auto fired = q.advance(1);
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(creations(fired[0]).size(), 1u);
  EXPECT_EQ(creations(fired[0])[0]->fields.at("matched").as_array().size(), 6u);

  queue_table small;
  for (connection_id c = 1; c <= 4; ++c) small.enqueue(c);
  EXPECT_EQ(small.driver().timers().at(mafia_matchmaker::match_timer), t0 + 30000);
  const auto late = small.advance(30000);
  ASSERT_EQ(late.size(), 1u);
  EXPECT_EQ(creations(late[0])[0]->fields.at("matched").as_array().size(), 4u);

  queue_table tiny;
  for (connection_id c = 1; c <= 3; ++c) tiny.enqueue(c);
  EXPECT_TRUE(tiny.driver().timers().empty());  // three cannot play: the next join decides
}

TEST(MafiaQueue, AwayPlayersKeepTheirPlaceButAreNotMatchedAndTheGraceEndsIt) {
  queue_table q;
  for (connection_id c = 1; c <= 9; ++c) q.enqueue(c);
  q.presence(1, presence_stage::away);
  EXPECT_TRUE(creations(q.enqueue(10)).empty());  // 9 connected
  const step_outcome eleventh = q.enqueue(11);
  ASSERT_EQ(creations(eleventh).size(), 1u);
  const auto& matched = creations(eleventh)[0]->fields.at("matched").as_array();
  for (const auto& m : matched) EXPECT_NE(str(m.at("userId")), user_of(1));
  ASSERT_EQ(q.queue().state().waiting.size(), 1u);
  EXPECT_EQ(q.queue().state().waiting[0].user_id, user_of(1));
  q.disconnect(1);  // the grace is over
  EXPECT_TRUE(q.queue().state().waiting.empty());
}

TEST(MafiaQueue, LeavingIdentityAndDuplicates) {
  queue_table q;
  const step_outcome anonymous = q.send(1, msg("matchmaking:join"), true);
  EXPECT_EQ(str(mafia_table::first_frame(anonymous, "room:error")->at("payload").at("reason")),
            "not_identified");
  EXPECT_TRUE(q.released().count(1));
  q.enqueue(2);
  const step_outcome left = q.send(2, msg("matchmaking:leave"));
  EXPECT_TRUE(mafia_table::first_frame(left, "matchmaking:left"));
  EXPECT_TRUE(q.released().count(2));
  EXPECT_TRUE(q.queue().state().waiting.empty());
  q.enqueue(3);
  q.leave(3);  // room:leave leaves the queue too
  EXPECT_TRUE(q.queue().state().waiting.empty());
  q.enqueue(4);
  const step_outcome other = q.send(4, msg("room:ready"));  // not a queue message
  EXPECT_EQ(str(mafia_table::first_frame(other, "room:error")->at("payload").at("reason")),
            "in_queue");
}

TEST(MafiaQueue, ARefusedRoomPutsEveryoneBackInLineAndTheQueueTriesAgain) {
  queue_table q;
  for (connection_id c = 1; c <= 10; ++c) q.enqueue(c);
  const std::uint64_t request = q.queue().state().forming.at(0).request;
  q.answer(request, "");
  EXPECT_EQ(q.queue().state().waiting.size(), 10u);
  EXPECT_EQ(q.queue().state().waiting[0].user_id, user_of(1));  // places kept
  EXPECT_TRUE(q.queue().state().forming.empty());
  const auto retried = q.advance(1000);
  ASSERT_EQ(retried.size(), 1u);
  EXPECT_EQ(creations(retried[0]).size(), 1u);
}

TEST(MafiaQueue, ARestoredQueueAsksAgainForTheRoomsItWasWaitingFor) {
  queue_table q;
  for (connection_id c = 1; c <= 10; ++c) q.enqueue(c);
  q.enqueue(11);
  q.restore();
  const step_outcome created = q.engine(created_input());
  EXPECT_EQ(creations(created).size(), 1u);
  EXPECT_EQ(q.queue().state().waiting.size(), 1u);
  EXPECT_FALSE(q.module().restore(R"({"schema":1,"game":"mafia-queue"})"));
}

}  // namespace
}  // namespace partyd::mafia::testing
