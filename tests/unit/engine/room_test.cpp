#include "engine/room.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "tests/unit/engine/test_game.hpp"

namespace partyd::testing {
namespace {

struct room_fixture : ::testing::Test {
  std::shared_ptr<room> make_room(std::size_t inbox_max) {
    auto made = module.create({}, "ABCDEF");
    return std::make_shared<room>(1, "ABCDEF", module, std::move(made.instance), 7, 0, inbox_max,
                                  1000);
  }
  static input numbered(std::uint64_t producer, std::uint64_t seq) {
    input in;
    in.kind = input_kind::command;
    in.conn = producer;
    in.timer_key = seq;  // the engine does not read it for commands: a handy payload
    return in;
  }

  std::shared_ptr<journal> log = std::make_shared<journal>();
  echo_module module{log};
};

TEST_F(room_fixture, keeps_its_identity) {
  auto r = make_room(4);
  EXPECT_EQ(r->serial(), 1u);
  EXPECT_EQ(r->code(), "ABCDEF");
  EXPECT_EQ(&r->module(), &module);
  EXPECT_EQ(r->worker_index(), 0u);
  EXPECT_EQ(r->created_at(), 1000);
  EXPECT_EQ(r->last_activity(), 1000);
  EXPECT_EQ(r->rng().state(), room_rng(7).state());
  EXPECT_FALSE(r->closed());
  EXPECT_EQ(r->state_version(), 0u);
  r->bump_version();
  EXPECT_EQ(r->state_version(), 1u);
  r->touch(2000);
  EXPECT_EQ(r->last_activity(), 2000);
}

TEST_F(room_fixture, push_then_pop_in_order) {
  auto r = make_room(16);
  for (std::uint64_t i = 0; i < 10; ++i) {
    EXPECT_EQ(r->push(numbered(1, i), false), push_result::accepted);
  }
  EXPECT_EQ(r->inbox_depth(), 10u);
  room_input out;
  for (std::uint64_t i = 0; i < 10; ++i) {
    ASSERT_TRUE(r->pop(out));
    EXPECT_EQ(out.in.timer_key, i);
  }
  EXPECT_FALSE(r->pop(out));
  EXPECT_EQ(r->inbox_depth(), 0u);
}

TEST_F(room_fixture, inbox_is_full_past_its_bound_but_exempt_inputs_pass) {
  auto r = make_room(4);
  for (std::uint64_t i = 0; i < 4; ++i) {
    EXPECT_EQ(r->push(numbered(1, i), false), push_result::accepted);
  }
  EXPECT_EQ(r->push(numbered(1, 4), false), push_result::full);
  EXPECT_EQ(r->inbox_depth(), 4u);
  input exempt;
  exempt.kind = input_kind::disconnect;
  EXPECT_EQ(r->push(std::move(exempt), true), push_result::accepted);
  EXPECT_EQ(r->inbox_depth(), 5u);
  // Still full for clients while the exempt input is queued.
  EXPECT_EQ(r->push(numbered(1, 5), false), push_result::full);
  room_input out;
  ASSERT_TRUE(r->pop(out));
  ASSERT_TRUE(r->pop(out));
  EXPECT_EQ(r->inbox_depth(), 3u);
  EXPECT_EQ(r->push(numbered(1, 6), false), push_result::accepted);
  EXPECT_EQ(r->push(numbered(1, 7), false), push_result::full);
}

TEST_F(room_fixture, a_closed_room_refuses_everything) {
  auto r = make_room(4);
  r->mark_closed();
  EXPECT_TRUE(r->closed());
  EXPECT_EQ(r->push(numbered(1, 0), false), push_result::closed);
  EXPECT_EQ(r->push(numbered(1, 0), true), push_result::closed);
  EXPECT_EQ(r->inbox_depth(), 0u);
}

TEST_F(room_fixture, schedule_claim_is_exclusive_until_released) {
  auto r = make_room(4);
  EXPECT_TRUE(r->claim_schedule());
  EXPECT_FALSE(r->claim_schedule());
  r->release_schedule();
  EXPECT_TRUE(r->claim_schedule());
}

TEST_F(room_fixture, summary_is_published_from_the_game) {
  auto r = make_room(4);
  effects out;
  input join;
  join.kind = input_kind::command;
  join.conn = 5;
  join.cmd = make_command(in_join, role_player);
  r->instance().step(join, 0, r->rng(), out);
  EXPECT_EQ(r->summary().connected_by_role[role_player], 0u);  // not yet published
  r->publish_summary();
  EXPECT_EQ(r->summary().connected_by_role[role_player], 1u);
  EXPECT_EQ(r->summary().seats, 1u);
}

// Producers race for the last places: the bound holds exactly, whatever the interleaving.
TEST_F(room_fixture, concurrent_producers_never_exceed_the_bound) {
  constexpr std::size_t inbox_max = 1000;
  constexpr int producers = 8;
  constexpr int per_producer = 500;
  auto r = make_room(inbox_max);
  std::atomic<int> accepted{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      while (!go.load()) {
        std::this_thread::yield();
      }
      for (int i = 0; i < per_producer; ++i) {
        if (r->push(numbered(p, i), false) == push_result::accepted) {
          accepted.fetch_add(1);
        }
      }
    });
  }
  go.store(true);
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(accepted.load(), static_cast<int>(inbox_max));
  EXPECT_EQ(r->inbox_depth(), inbox_max);
  std::size_t popped = 0;
  room_input out;
  while (r->pop(out)) {
    ++popped;
  }
  EXPECT_EQ(popped, inbox_max);
  EXPECT_EQ(r->inbox_depth(), 0u);
}

// Producers and one consumer at once: every accepted input comes out exactly once, each
// producer's inputs in the order it pushed them, and the depth stays within the bound (plus the
// places rejected producers reserve for an instant).
TEST_F(room_fixture, concurrent_producers_and_consumer_pop_each_input_once) {
  constexpr std::size_t inbox_max = 64;
  constexpr int producers = 4;
  constexpr int per_producer = 3000;
  auto r = make_room(inbox_max);
  std::vector<std::vector<std::uint64_t>> accepted(producers);
  std::atomic<int> producers_done{0};
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      // Retry when full, so that the consumer and the producers overlap for the whole test.
      for (int i = 0; i < per_producer; ++i) {
        while (r->push(numbered(p, i), false) != push_result::accepted) {
          std::this_thread::yield();
        }
        accepted[p].push_back(i);
      }
      producers_done.fetch_add(1);
    });
  }
  std::vector<std::vector<std::uint64_t>> popped(producers);
  std::size_t max_depth_seen = 0;
  room_input out;
  for (;;) {
    const bool finished = producers_done.load() == producers;
    max_depth_seen = std::max(max_depth_seen, r->inbox_depth());
    if (r->pop(out)) {
      ASSERT_LT(out.in.conn, static_cast<connection_id>(producers));
      popped[out.in.conn].push_back(out.in.timer_key);
    } else if (finished) {
      break;
    } else {
      std::this_thread::yield();
    }
  }
  for (auto& t : threads) {
    t.join();
  }
  // A rejected producer reserves a place for an instant before giving it back.
  EXPECT_LE(max_depth_seen, inbox_max + producers);
  std::size_t total = 0;
  for (int p = 0; p < producers; ++p) {
    EXPECT_EQ(popped[p], accepted[p]) << "producer " << p;
    total += popped[p].size();
  }
  EXPECT_EQ(total, static_cast<std::size_t>(producers) * per_producer);
  EXPECT_EQ(r->inbox_depth(), 0u);
}

}  // namespace
}  // namespace partyd::testing
