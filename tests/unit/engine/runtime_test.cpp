#include "engine/runtime.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "engine/secrets.hpp"
#include "tests/unit/engine/test_game.hpp"

namespace partyd::testing {
namespace {

TEST(runtime, modules_are_found_by_name_and_path) {
  echo_fixture f;
  EXPECT_EQ(f.rt->module_by_name("echo"), f.module);
  EXPECT_EQ(f.rt->module_by_path("/echo"), f.module);
  EXPECT_EQ(f.rt->module_by_name("nope"), nullptr);
  EXPECT_EQ(f.rt->module_by_path("/nope"), nullptr);
  ASSERT_EQ(f.rt->modules().size(), 1u);
  EXPECT_EQ(f.rt->modules()[0], f.module);
}

TEST(runtime, the_injected_clock_is_used) {
  runtime_options options;
  options.clock = [] { return time_ms{123456}; };
  echo_fixture f(options);
  EXPECT_EQ(f.rt->now(), 123456);
  f.rt->start();
  auto r = f.create();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->created_at(), 123456);
  const auto steps = f.log->steps();
  ASSERT_FALSE(steps.empty());
  EXPECT_EQ(steps.front().now, 123456);
}

TEST(runtime, room_codes_have_the_length_and_alphabet_and_are_unique) {
  runtime_options options;
  options.room_code_length = 8;
  echo_fixture f(options);
  f.rt->start();
  std::set<std::string> codes;
  for (int i = 0; i < 300; ++i) {
    auto made = f.rt->create_room(*f.module, {});
    ASSERT_TRUE(made.created) << made.error.code;
    const std::string& code = made.created->code();
    EXPECT_EQ(code.size(), 8u);
    EXPECT_EQ(code.find_first_not_of(room_code_alphabet), std::string::npos) << code;
    EXPECT_EQ(code.find_first_of("01OIL"), std::string::npos) << code;
    EXPECT_TRUE(codes.insert(code).second) << "duplicate " << code;
    EXPECT_EQ(made.reply.at("code").as_string(), code);
  }
  EXPECT_EQ(f.rt->room_count(), 300u);
  EXPECT_EQ(f.metrics.get_counter("partyd_rooms_created_total", "", "").value(), 300u);
  EXPECT_EQ(f.metrics.get_gauge("partyd_rooms", "game=\"echo\"", "").value(), 300);
}

TEST(runtime, find_returns_the_room_by_code) {
  echo_fixture f;
  f.rt->start();
  auto r = f.create();
  ASSERT_TRUE(r);
  EXPECT_EQ(f.rt->find(r->code()), r);
  EXPECT_EQ(f.rt->find("ZZZZZZZ"), nullptr);
  EXPECT_EQ(f.rt->find(""), nullptr);
}

TEST(runtime, a_create_error_from_the_game_creates_nothing) {
  echo_fixture f;
  f.rt->start();
  boost::json::object options;
  options["fail"] = true;
  auto made = f.rt->create_room(*f.module, options);
  EXPECT_FALSE(made.created);
  EXPECT_EQ(made.error.code, "bad_options");
  EXPECT_EQ(f.rt->room_count(), 0u);
}

TEST(runtime, max_rooms_is_a_hard_limit) {
  runtime_options options;
  options.max_rooms = 3;
  echo_fixture f(options);
  f.rt->start();
  std::vector<std::shared_ptr<room>> rooms;
  for (int i = 0; i < 3; ++i) {
    rooms.push_back(f.create());
    ASSERT_TRUE(rooms.back());
  }
  auto refused = f.rt->create_room(*f.module, {});
  EXPECT_FALSE(refused.created);
  EXPECT_EQ(refused.error.code, "limit_reached");
  EXPECT_EQ(f.rt->room_count(), 3u);
  // A closed room frees its place.
  ASSERT_TRUE(f.rt->close_room(rooms[0]->code()));
  ASSERT_TRUE(eventually([&] { return f.rt->room_count() == 2; }));
  EXPECT_TRUE(f.rt->create_room(*f.module, {}).created);
}

TEST(runtime, max_rooms_holds_under_concurrent_creates) {
  runtime_options options;
  options.max_rooms = 20;
  echo_fixture f(options);
  f.rt->start();
  std::atomic<int> created{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        if (f.rt->create_room(*f.module, {}).created) {
          created.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(created.load(), 20);
  EXPECT_EQ(f.rt->room_count(), 20u);
}

TEST(runtime, close_room_reaches_the_game_and_forgets_the_room) {
  echo_fixture f;
  f.rt->start();
  auto r = f.create();
  ASSERT_TRUE(r);
  const std::string code = r->code();
  auto host = f.join(r, 1, role_host);
  auto player = f.join(r, 2, role_player);
  ASSERT_TRUE(player->wait_binds(1));
  EXPECT_FALSE(f.rt->close_room("NOPE42"));
  ASSERT_TRUE(f.rt->close_room(code));
  ASSERT_TRUE(f.log->wait_kind(input_kind::admin_close, code));
  ASSERT_TRUE(host->wait_closed());
  ASSERT_TRUE(player->wait_closed());
  EXPECT_EQ(host->closes()[0].code, 1000);
  ASSERT_TRUE(eventually([&] { return r->closed(); }));
  EXPECT_EQ(f.rt->find(code), nullptr);
  EXPECT_EQ(f.rt->room_count(), 0u);
  EXPECT_FALSE(f.rt->close_room(code));
  EXPECT_EQ(f.send(r, 1, make_command(in_echo)), push_result::closed);
  EXPECT_EQ(f.metrics.get_gauge("partyd_rooms", "game=\"echo\"", "").value(), 0);
  EXPECT_EQ(f.metrics.get_gauge("partyd_connections", "game=\"echo\",role=\"host\"", "").value(),
            0);
  EXPECT_EQ(f.metrics.get_gauge("partyd_connections", "game=\"echo\",role=\"player\"", "").value(),
            0);
}

TEST(runtime, list_rooms_reports_each_room_and_its_summary) {
  runtime_options options;
  options.clock = [] { return time_ms{5000}; };
  echo_fixture f(options);
  f.rt->start();
  auto a = f.create();
  auto b = f.create();
  ASSERT_TRUE(a && b);
  f.join(a, 1, role_host);
  f.join(a, 2, role_player);
  auto last = f.join(a, 3, role_player);
  ASSERT_TRUE(last->wait_binds(1));
  room_listing listed_a;
  ASSERT_TRUE(eventually([&] {
    for (const auto& item : f.rt->list_rooms()) {
      if (item.code == a->code()) {
        listed_a = item;
      }
    }
    return listed_a.summary.seats == 3;
  }));
  EXPECT_EQ(listed_a.game, "echo");
  EXPECT_EQ(listed_a.created_at, 5000);
  EXPECT_EQ(listed_a.last_activity, 5000);
  EXPECT_EQ(listed_a.summary.connected_by_role[role_host], 1u);
  EXPECT_EQ(listed_a.summary.connected_by_role[role_player], 2u);
  EXPECT_EQ(listed_a.summary.connected_by_role[role_audience], 0u);
  EXPECT_GE(listed_a.state_version, 3u);
  const auto all = f.rt->list_rooms();
  ASSERT_EQ(all.size(), 2u);
  std::set<std::string> codes{all[0].code, all[1].code};
  EXPECT_EQ(codes, (std::set<std::string>{a->code(), b->code()}));
}

// One producer thread: its inputs reach the game in the order it submitted them.
TEST(runtime, one_producer_inputs_reach_the_game_in_order) {
  runtime_options options;
  options.workers = 2;
  options.batch_per_room = 8;
  options.inbox_max = 256;  // small: the producer sees "full" and retries
  echo_fixture f(options);
  f.rt->start();
  auto r = f.create();
  ASSERT_TRUE(r);
  constexpr std::uint64_t count = 20000;
  std::size_t rejected = 0;
  std::thread producer([&] {
    auto sink = std::make_shared<recording_sink>(1);
    for (std::uint64_t i = 0; i < count; ++i) {
      for (;;) {
        const auto result = f.send(r, 1, make_command(in_seq, i, "p"), i == 0 ? sink : nullptr);
        if (result == push_result::accepted) {
          break;
        }
        ASSERT_EQ(result, push_result::full);
        ++rejected;
        std::this_thread::yield();
      }
    }
  });
  producer.join();
  ASSERT_TRUE(f.log->wait_size(count + 1, 10s));
  std::uint64_t expected = 0;
  for (const auto& step : f.log->steps()) {
    if (step.kind == input_kind::command) {
      ASSERT_EQ(step.number, expected) << "out of order";
      ++expected;
    }
  }
  EXPECT_EQ(expected, count);
  EXPECT_EQ(f.metrics.get_counter("partyd_inbox_rejected_total", "", "").value(), rejected);
  ASSERT_TRUE(
      eventually([&] { return f.metrics.get_gauge("partyd_inbox_depth", "", "").value() == 0; }));
}

// Several producer threads into one room: each producer's own order survives.
TEST(runtime, many_producers_keep_each_producer_order) {
  runtime_options options;
  options.batch_per_room = 16;
  options.inbox_max = 100000;
  echo_fixture f(options);
  f.rt->start();
  auto r = f.create();
  ASSERT_TRUE(r);
  constexpr int producers = 4;
  constexpr std::uint64_t per_producer = 5000;
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      for (std::uint64_t i = 0; i < per_producer; ++i) {
        EXPECT_EQ(f.send(r, 10 + p, make_command(in_seq, i, std::to_string(p))),
                  push_result::accepted);
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  ASSERT_TRUE(f.log->wait_size(producers * per_producer + 1, 10s));
  std::vector<std::uint64_t> next(producers, 0);
  for (const auto& step : f.log->steps()) {
    if (step.kind != input_kind::command) {
      continue;
    }
    const int p = std::stoi(step.text);
    ASSERT_EQ(step.number, next[p]) << "producer " << p;
    ++next[p];
  }
  for (int p = 0; p < producers; ++p) {
    EXPECT_EQ(next[p], per_producer);
  }
}

TEST(runtime, submit_counts_rejections_and_closed_rooms) {
  runtime_options options;
  options.inbox_max = 2;
  echo_fixture f(options);
  f.rt->start();
  auto r = f.create();
  ASSERT_TRUE(r);
  f.log->close_gate();
  f.send(r, 1, make_command(in_block));
  ASSERT_TRUE(f.log->wait_blocked());
  EXPECT_EQ(f.send(r, 1, make_command(in_seq, 1)), push_result::accepted);
  EXPECT_EQ(f.send(r, 1, make_command(in_seq, 2)), push_result::accepted);
  EXPECT_EQ(f.send(r, 1, make_command(in_seq, 3)), push_result::full);
  EXPECT_EQ(f.metrics.get_counter("partyd_inbox_rejected_total", "", "").value(), 1u);
  EXPECT_EQ(f.metrics.get_gauge("partyd_inbox_depth", "", "").value(), 2);
  f.log->open_gate();
  ASSERT_TRUE(f.log->wait_for(
      [](const std::vector<step_record>& s) { return !s.empty() && s.back().number == 2; }));
  ASSERT_TRUE(
      eventually([&] { return f.metrics.get_gauge("partyd_inbox_depth", "", "").value() == 0; }));
}

TEST(runtime, deferred_submits_wait_for_wake_and_wake_each_room_once) {
  runtime_options options;
  options.workers = 1;
  echo_fixture f(options);
  f.rt->start();
  std::vector<std::shared_ptr<room>> rooms;
  for (int i = 0; i < 6; ++i) {
    rooms.push_back(f.create());
    ASSERT_TRUE(rooms.back());
  }
  // Hold the only worker inside another room's step: no pass can run (or end) meanwhile, so
  // what follows does not race with the passes that delivered the rooms' `created` inputs.
  auto blocker = f.create();
  ASSERT_TRUE(blocker);
  f.log->close_gate();
  f.send(blocker, 1, make_command(in_block));
  ASSERT_TRUE(f.log->wait_blocked());
  const std::size_t before = f.log->size();
  runtime::deferred_wakes wakes;
  for (std::uint64_t i = 0; i < 3; ++i) {
    for (auto& r : rooms) {
      input in;
      in.kind = input_kind::command;
      in.conn = 1;
      in.cmd = make_command(in_seq, i);
      EXPECT_EQ(f.rt->submit_deferred(r, std::move(in), wakes), push_result::accepted);
    }
  }
  // Each room is scheduled once however many inputs it got.
  EXPECT_EQ(wakes.size(), rooms.size());
  f.rt->wake(wakes);
  EXPECT_TRUE(wakes.empty());
  f.log->open_gate();
  // Every deferred input runs once woken (the blocked step was journaled before `before`).
  ASSERT_TRUE(f.log->wait_for([&](const std::vector<step_record>& steps) {
    return static_cast<std::size_t>(std::count_if(
               steps.begin() + static_cast<std::ptrdiff_t>(before), steps.end(),
               [](const step_record& s) { return s.type == in_seq; })) == 3 * rooms.size();
  }));
}

TEST(runtime, stop_finishes_inputs_already_queued) {
  runtime_options options;
  options.batch_per_room = 4;
  options.inbox_max = 10000;
  echo_fixture f(options);
  f.rt->start();
  auto r = f.create();
  ASSERT_TRUE(r);
  for (std::uint64_t i = 0; i < 2000; ++i) {
    f.send(r, 1, make_command(in_seq, i));
  }
  f.rt->stop();
  EXPECT_EQ(f.log->size(), 2001u);
}

}  // namespace
}  // namespace partyd::testing
