#include "engine/worker.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/engine/test_game.hpp"

namespace partyd::testing {
namespace {

std::int64_t cpu_time_us() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto us = [](const timeval& t) {
    return static_cast<std::int64_t>(t.tv_sec) * 1000000 + t.tv_usec;
  };
  return us(usage.ru_utime) + us(usage.ru_stime);
}

std::uint64_t total_steps(metrics_registry& metrics, std::size_t workers) {
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < workers; ++i) {
    sum += metrics.get_counter("partyd_steps_total", "worker=\"" + std::to_string(i) + "\"", "")
               .value();
  }
  return sum;
}

// Position in the journal of the first step matching `match`, or npos.
template <typename Match>
std::size_t index_of(const std::vector<step_record>& steps, Match match) {
  for (std::size_t i = 0; i < steps.size(); ++i) {
    if (match(steps[i])) {
      return i;
    }
  }
  return std::string::npos;
}

TEST(worker, a_busy_room_cannot_starve_another) {
  runtime_options options;
  options.workers = 1;  // both rooms on one worker
  options.batch_per_room = 4;
  options.inbox_max = 20000;
  echo_fixture f(options);
  f.rt->start();
  auto busy = f.create();
  auto quiet = f.create();
  ASSERT_TRUE(busy && quiet);
  // Hold the worker inside the busy room's first step while both inboxes fill, so that the
  // order in which they are queued does not depend on thread timing.
  f.log->close_gate();
  f.send(busy, 1, make_command(in_block));
  ASSERT_TRUE(f.log->wait_blocked());
  constexpr std::uint64_t busy_inputs = 10000;
  for (std::uint64_t i = 1; i < busy_inputs; ++i) {
    ASSERT_EQ(f.send(busy, 1, make_command(in_seq, i)), push_result::accepted);
  }
  ASSERT_EQ(f.send(quiet, 2, make_command(in_seq, 777)), push_result::accepted);
  f.log->open_gate();
  // Two `created` steps, then every command; the bound is generous for sanitizer builds.
  ASSERT_TRUE(f.log->wait_size(2 + busy_inputs + 1, 10s));
  const auto steps = f.log->steps();
  const std::size_t quiet_at = index_of(steps, [&](const step_record& r) {
    return r.room == quiet->code() && r.kind == input_kind::command;
  });
  const std::size_t busy_last = index_of(steps, [&](const step_record& r) {
    return r.room == busy->code() && r.number == busy_inputs - 1;
  });
  ASSERT_NE(quiet_at, std::string::npos);
  ASSERT_NE(busy_last, std::string::npos);
  EXPECT_LT(quiet_at, busy_last);
  // Served within a few batches of the busy room, not after thousands of its inputs.
  const std::size_t busy_first = index_of(steps, [&](const step_record& r) {
    return r.room == busy->code() && r.kind == input_kind::command;
  });
  EXPECT_LE(quiet_at - busy_first, 4 * options.batch_per_room);
}

TEST(worker, an_idle_worker_sleeps) {
  runtime_options options;
  options.workers = 2;
  options.inactivity_ms = 60 * 60 * 1000;  // no timer due during the test
  echo_fixture f(options);
  f.rt->start();
  std::vector<std::shared_ptr<room>> rooms;
  for (int i = 0; i < 4; ++i) {
    rooms.push_back(f.create());
  }
  for (std::uint64_t i = 0; i < 2000; ++i) {
    f.send(rooms[i % rooms.size()], 1 + i % rooms.size(), make_command(in_seq, i));
  }
  ASSERT_TRUE(f.log->wait_size(2004, 10s));
  ASSERT_TRUE(eventually([&] { return total_steps(f.metrics, options.workers) == 2004; }));
  const std::uint64_t steps_before = total_steps(f.metrics, options.workers);
  const std::int64_t cpu_before = cpu_time_us();
  std::this_thread::sleep_for(300ms);
  const std::int64_t cpu_used_us = cpu_time_us() - cpu_before;
  EXPECT_EQ(total_steps(f.metrics, options.workers), steps_before);
  EXPECT_LT(cpu_used_us, 50000) << "workers spin while idle";
}

TEST(worker, game_timers_fire_as_timer_inputs) {
  echo_fixture f;
  f.rt->start();
  auto r = f.create();
  ASSERT_TRUE(r);
  auto host = f.join(r, 1, role_host);
  ASSERT_TRUE(host->wait_binds(1));
  f.send(r, 1, make_command(in_set_timer, 5, {}, 30));
  ASSERT_TRUE(f.log->wait_kind(input_kind::timer, r->code(), 1000ms));
  ASSERT_TRUE(host->wait_frames(2));
  EXPECT_EQ(host->frames()[1], "timer:5");
  const auto steps = f.log->steps();
  const auto set_at = steps[index_of(steps, [](const step_record& s) {
                        return s.kind == input_kind::command && s.type == in_set_timer;
                      })].now;
  const auto fired =
      steps[index_of(steps, [](const step_record& s) { return s.kind == input_kind::timer; })];
  EXPECT_EQ(fired.timer_key, 5u);
  EXPECT_GE(fired.now, set_at + 30);
}

TEST(worker, a_cancelled_timer_never_fires) {
  echo_fixture f;
  f.rt->start();
  auto r = f.create();
  ASSERT_TRUE(r);
  f.send(r, 1, make_command(in_set_timer, 1, {}, 40));
  f.send(r, 1, make_command(in_cancel_timer, 1));
  f.send(r, 1, make_command(in_set_timer, 2, {}, 120));  // the sentinel, due later
  ASSERT_TRUE(f.log->wait_kind(input_kind::timer, r->code(), 1000ms));
  for (const auto& step : f.log->steps()) {
    if (step.kind == input_kind::timer) {
      EXPECT_EQ(step.timer_key, 2u) << "cancelled timer fired";
    }
  }
}

TEST(worker, a_rearmed_timer_fires_once_at_its_new_deadline) {
  echo_fixture f;
  f.rt->start();
  auto r = f.create();
  ASSERT_TRUE(r);
  f.send(r, 1, make_command(in_set_timer, 3, {}, 30));
  f.send(r, 1, make_command(in_set_timer, 3, {}, 90));   // later: the first deadline is void
  f.send(r, 1, make_command(in_set_timer, 4, {}, 200));  // sentinel
  f.send(r, 1, make_command(in_set_timer, 6, {}, 300));
  f.send(r, 1, make_command(in_set_timer, 6, {}, 20));  // earlier than the first deadline
  ASSERT_TRUE(f.log->wait_for(
      [](const std::vector<step_record>& s) {
        return std::any_of(s.begin(), s.end(), [](const step_record& x) {
          return x.kind == input_kind::timer && x.timer_key == 4;
        });
      },
      1500ms));
  std::this_thread::sleep_for(150ms);  // past timer 6's first deadline
  const auto steps = f.log->steps();
  time_ms second_set_at = 0;
  int fired_3 = 0;
  int fired_6 = 0;
  for (const auto& step : steps) {
    if (step.kind == input_kind::command && step.number == 3) {
      second_set_at = step.now;
    }
    if (step.kind == input_kind::timer && step.timer_key == 3) {
      ++fired_3;
      EXPECT_GE(step.now, second_set_at + 90);
    }
    fired_6 += step.kind == input_kind::timer && step.timer_key == 6;
  }
  EXPECT_EQ(fired_3, 1);
  EXPECT_EQ(fired_6, 1);
}

TEST(worker, timers_of_a_closed_room_do_not_fire) {
  echo_fixture f;
  f.rt->start();
  auto r = f.create();
  auto other = f.create();
  ASSERT_TRUE(r && other);
  f.send(r, 1, make_command(in_set_timer, 1, {}, 30));
  f.send(r, 1, make_command(in_close_room, 0, "done"));
  f.send(other, 2, make_command(in_set_timer, 1, {}, 80));
  ASSERT_TRUE(f.log->wait_kind(input_kind::timer, other->code(), 1000ms));
  for (const auto& step : f.log->steps()) {
    EXPECT_FALSE(step.room == r->code() && step.kind == input_kind::timer);
  }
}

TEST(worker, inactivity_is_reported_only_after_a_quiet_period) {
  runtime_options options;
  options.inactivity_ms = 200;
  echo_fixture f(options);
  f.rt->start();
  auto r = f.create();
  ASSERT_TRUE(r);
  // Commands every 50 ms for 400 ms: twice the limit in total, never the limit in one gap.
  for (int i = 0; i < 8; ++i) {
    f.send(r, 1, make_command(in_seq, i));
    std::this_thread::sleep_for(50ms);
    ASSERT_FALSE(f.log->wait_kind(input_kind::inactive, r->code(), 0ms)) << "after " << i;
  }
  ASSERT_TRUE(f.log->wait_kind(input_kind::inactive, r->code(), 1000ms));
  const auto steps = f.log->steps();
  time_ms last_command = 0;
  time_ms inactive_at = 0;
  for (const auto& step : steps) {
    if (step.kind == input_kind::command) last_command = step.now;
    if (step.kind == input_kind::inactive) inactive_at = step.now;
  }
  EXPECT_GE(inactive_at - last_command, 200);
  EXPECT_LT(inactive_at - last_command, 200 + 500);  // not a revolution of the wheel late
  // The game closed the room on inactivity.
  ASSERT_TRUE(eventually([&] { return f.rt->find(r->code()) == nullptr; }));
}

TEST(worker, a_room_that_stays_open_when_inactive_is_checked_again) {
  runtime_options options;
  options.inactivity_ms = 100;
  echo_fixture f(options);
  f.log->close_on_inactive = false;
  f.rt->start();
  auto r = f.create();
  ASSERT_TRUE(r);
  ASSERT_TRUE(f.log->wait_for(
      [&](const std::vector<step_record>& s) {
        return std::count_if(s.begin(), s.end(), [](const step_record& x) {
                 return x.kind == input_kind::inactive;
               }) >= 2;
      },
      1500ms));
  const auto steps = f.log->steps();
  std::vector<time_ms> at;
  for (const auto& step : steps) {
    if (step.kind == input_kind::inactive) at.push_back(step.now);
  }
  EXPECT_GE(at[1] - at[0], 100);
  EXPECT_NE(f.rt->find(r->code()), nullptr);
}

struct effects_fixture : ::testing::Test {
  void SetUp() override {
    f.rt->start();
    r = f.create();
    ASSERT_TRUE(r);
    // Ids out of join order: deliveries must follow the ids, not the joins.
    host = f.join(r, 30, role_host, shared);
    p1 = f.join(r, 20, role_player, shared);
    p2 = f.join(r, 10, role_player, shared);
    audience = f.join(r, 40, role_audience, shared);
    unbound = std::make_shared<recording_sink>(50, shared);
    f.send(r, 50, make_command(in_echo, 0, "hi"), unbound);
    ASSERT_TRUE(unbound->wait_frames(1));
  }
  echo_fixture f;
  std::shared_ptr<delivery_log> shared = std::make_shared<delivery_log>();
  std::shared_ptr<room> r;
  std::shared_ptr<recording_sink> host, p1, p2, audience, unbound;
};

TEST_F(effects_fixture, send_reaches_one_connection_and_bind_is_passed_on) {
  for (auto* sink : {host.get(), p1.get(), p2.get(), audience.get()}) {
    ASSERT_TRUE(sink->wait_binds(1));
    ASSERT_TRUE(sink->wait_frames(1));
    EXPECT_EQ(sink->frames()[0], "welcome:" + std::to_string(sink->id()));
  }
  EXPECT_EQ(host->binds()[0].role, role_host);
  EXPECT_FALSE(host->binds()[0].rate_limited);
  EXPECT_EQ(p1->binds()[0].role, role_player);
  EXPECT_TRUE(p1->binds()[0].rate_limited);
  EXPECT_TRUE(unbound->binds().empty());
  EXPECT_EQ(unbound->frames(), (std::vector<std::string>{"echo:hi"}));
  auto gauge_of = [&](const char* role) {
    return f.metrics
        .get_gauge("partyd_connections", std::string("game=\"echo\",role=\"") + role + "\"", "")
        .value();
  };
  EXPECT_EQ(gauge_of("host"), 1);
  EXPECT_EQ(gauge_of("player"), 2);
  EXPECT_EQ(gauge_of("audience"), 1);
  EXPECT_TRUE(eventually([&] {
    return f.metrics.get_counter("partyd_messages_out_total", "game=\"echo\",type=\"welcome\"", "")
               .value() == 4;
  }));
  // A send to a connection the room does not know is dropped.
  f.send(r, 30, make_command(in_send_to, 999, "lost"));
  f.send(r, 30, make_command(in_send_to, 20, "found"));
  ASSERT_TRUE(p1->wait_frames(2));
  EXPECT_EQ(p1->frames()[1], "found");
}

TEST_F(effects_fixture, send_roles_reaches_bound_connections_of_the_roles_in_id_order) {
  ASSERT_TRUE(audience->wait_binds(1));
  const std::size_t before = shared->entries().size();
  f.send(r, 30,
         make_command(in_broadcast, 0, "to players and audience", 0,
                      role_bit(role_player) | role_bit(role_audience)));
  ASSERT_TRUE(audience->wait_frames(2));
  auto entries = shared->entries();
  entries.erase(entries.begin(), entries.begin() + static_cast<long>(before));
  const std::vector<std::pair<connection_id, std::string>> expected{
      {10, "to players and audience"},
      {20, "to players and audience"},
      {40, "to players and audience"}};
  EXPECT_EQ(entries, expected);
  // The same frame object for every recipient: serialized once.
  EXPECT_EQ(p1->frame_ptrs().back(), p2->frame_ptrs().back());
  EXPECT_EQ(p1->frame_ptrs().back(), audience->frame_ptrs().back());
  // Counted after the deliveries.
  EXPECT_TRUE(eventually([&] {
    return f.metrics
               .get_counter("partyd_messages_out_total", "game=\"echo\",type=\"broadcast\"", "")
               .value() == 3;
  }));
}

TEST_F(effects_fixture, send_roles_respects_except) {
  ASSERT_TRUE(audience->wait_binds(1));
  const std::size_t before = shared->entries().size();
  // Player 20 broadcasts to all roles except itself; the unbound connection 50 gets nothing.
  f.send(r, 20, make_command(in_broadcast, 1, "all but me", 0, 0xff));
  ASSERT_TRUE(audience->wait_frames(2));
  auto entries = shared->entries();
  entries.erase(entries.begin(), entries.begin() + static_cast<long>(before));
  std::vector<connection_id> ids;
  for (const auto& [id, frame] : entries) ids.push_back(id);
  EXPECT_EQ(ids, (std::vector<connection_id>{10, 30, 40}));
}

TEST_F(effects_fixture, close_connection_closes_and_forgets_it) {
  ASSERT_TRUE(p1->wait_binds(1));
  f.send(r, 20, make_command(in_close_me));
  ASSERT_TRUE(p1->wait_closed());
  EXPECT_EQ(p1->closes()[0].code, 4000);
  EXPECT_EQ(p1->closes()[0].reason, "bye");
  ASSERT_TRUE(eventually([&] {
    return f.metrics.get_gauge("partyd_connections", "game=\"echo\",role=\"player\"", "").value() ==
           1;
  }));
  // No longer reachable by broadcasts.
  f.send(r, 30, make_command(in_broadcast, 0, "players", 0, role_bit(role_player)));
  ASSERT_TRUE(p2->wait_frames(2));
  EXPECT_EQ(p1->frames().size(), 1u);
}

TEST_F(effects_fixture, disconnect_reaches_the_game_and_releases_the_connection) {
  ASSERT_TRUE(p2->wait_binds(1));
  input gone;
  gone.kind = input_kind::disconnect;
  gone.conn = 10;
  f.rt->submit(r, std::move(gone), true);
  ASSERT_TRUE(f.log->wait_kind(input_kind::disconnect, r->code()));
  ASSERT_TRUE(eventually([&] {
    return f.metrics.get_gauge("partyd_connections", "game=\"echo\",role=\"player\"", "").value() ==
           1;
  }));
  // A second disconnect for the same connection does not reach the game.
  input again;
  again.kind = input_kind::disconnect;
  again.conn = 10;
  f.rt->submit(r, std::move(again), true);
  f.send(r, 30, make_command(in_seq, 1));
  ASSERT_TRUE(f.log->wait_for([](const std::vector<step_record>& s) {
    return s.back().kind == input_kind::command && s.back().type == in_seq;
  }));
  const auto steps = f.log->steps();
  EXPECT_EQ(std::count_if(steps.begin(), steps.end(),
                          [](const auto& s) { return s.kind == input_kind::disconnect; }),
            1);
  EXPECT_TRUE(p2->closes().empty());  // io closed it; the engine does not close it again
}

TEST_F(effects_fixture, close_room_closes_every_connection_and_forgets_the_room) {
  ASSERT_TRUE(audience->wait_binds(1));
  const std::string code = r->code();
  f.send(r, 30, make_command(in_close_room, 0, "game over"));
  for (auto* sink : {host.get(), p1.get(), p2.get(), audience.get(), unbound.get()}) {
    ASSERT_TRUE(sink->wait_closed()) << sink->id();
    EXPECT_EQ(sink->closes()[0].code, 1000);
  }
  ASSERT_TRUE(eventually([&] { return f.rt->find(code) == nullptr; }));
  EXPECT_TRUE(r->closed());
  EXPECT_EQ(f.rt->room_count(), 0u);
  EXPECT_EQ(f.send(r, 30, make_command(in_echo, 0, "late")), push_result::closed);
  for (const char* role : {"host", "player", "audience"}) {
    EXPECT_EQ(
        f.metrics
            .get_gauge("partyd_connections", std::string("game=\"echo\",role=\"") + role + "\"", "")
            .value(),
        0)
        << role;
  }
}

TEST_F(effects_fixture, count_increments_the_game_event_counter) {
  for (int i = 0; i < 3; ++i) {
    f.send(r, 30, make_command(in_count, 0, "dropped"));
  }
  f.send(r, 30, make_command(in_count, 0, "other"));
  ASSERT_TRUE(eventually([&] {
    return f.metrics.get_counter("partyd_game_events_total", "game=\"echo\",event=\"other\"", "")
               .value() == 1;
  }));
  EXPECT_EQ(f.metrics.get_counter("partyd_game_events_total", "game=\"echo\",event=\"dropped\"", "")
                .value(),
            3u);
  EXPECT_NE(f.metrics.render().find("partyd_game_events_total{game=\"echo\",event=\"dropped\"} 3"),
            std::string::npos);
}

}  // namespace
}  // namespace partyd::testing
