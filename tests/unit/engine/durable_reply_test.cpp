// Replies that confirm an important transition wait until its snapshot is in the store
// (engine/worker.cpp hold/release_held), bounded by durable_reply_timeout_ms.
#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <mutex>

#include "tests/unit/engine/test_game.hpp"

namespace partyd::testing {
namespace {

// A snapshot sink whose writes become durable only when the test says so.
class manual_store final : public snapshot_sink {
 public:
  void offer(snapshot_job&& job) noexcept override {
    std::lock_guard lock(mutex_);
    jobs_.push_back(std::move(job));
    changed_.notify_all();
  }
  bool healthy() const noexcept override { return healthy_.load(); }
  void set_healthy(bool healthy) { healthy_.store(healthy); }

  bool wait_jobs(std::size_t count, std::chrono::milliseconds timeout = 2000ms) {
    return wait_until_true(
        mutex_, changed_, [&] { return jobs_.size() >= count; }, timeout);
  }
  // Everything offered so far is now "in the store".
  void make_durable() {
    std::vector<std::function<void()>> callbacks;
    {
      std::lock_guard lock(mutex_);
      for (auto& job : jobs_) {
        if (job.on_durable) callbacks.push_back(std::move(job.on_durable));
      }
      jobs_.clear();
    }
    for (auto& callback : callbacks) callback();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<snapshot_job> jobs_;
  std::atomic<bool> healthy_{true};
};

runtime_options with_timeout(time_ms timeout_ms) {
  runtime_options options;
  options.durable_reply_timeout_ms = timeout_ms;
  return options;
}

TEST(durable_reply, important_reply_waits_for_the_store_and_later_frames_wait_behind_it) {
  manual_store store;  // outlives the runtime, whose workers offer to it until they stop
  echo_fixture f(with_timeout(60000));
  f.rt->set_snapshot_sink(&store);
  f.rt->start();
  auto target = f.create();
  ASSERT_TRUE(store.wait_jobs(1));  // the new room's own snapshot
  store.make_durable();
  auto sink = f.join(target, 1, role_player);
  ASSERT_TRUE(sink->wait_frames(1));  // not important: delivered at once

  f.send(target, 1, make_command(in_important, 0, "seat"));
  f.send(target, 1, make_command(in_echo, 0, "after"));
  ASSERT_TRUE(f.log->wait_size(4));  // created, join, important, echo all stepped
  ASSERT_TRUE(store.wait_jobs(1));
  EXPECT_FALSE(sink->wait_frames(2, 100ms)) << "the important reply went out before the store";

  store.make_durable();
  ASSERT_TRUE(sink->wait_frames(3));
  const auto frames = sink->frames();
  EXPECT_EQ(frames[1], "important:seat");
  EXPECT_EQ(frames[2], "echo:after");  // order kept
  EXPECT_EQ(f.metrics.get_counter("partyd_replies_held_total", "", "").value(), 1u);
}

TEST(durable_reply, a_persisted_step_is_written_at_once_and_its_reply_does_not_wait) {
  manual_store store;
  echo_fixture f(with_timeout(60000));
  f.rt->set_snapshot_sink(&store);
  f.rt->start();
  auto target = f.create();
  ASSERT_TRUE(store.wait_jobs(1));
  store.make_durable();
  auto sink = f.join(target, 1, role_player);
  ASSERT_TRUE(sink->wait_frames(1));
  ASSERT_TRUE(store.wait_jobs(1));  // the join's snapshot, within the interval
  store.make_durable();

  f.send(target, 1, make_command(in_persist, 0, "answer"));
  ASSERT_TRUE(sink->wait_frames(2)) << "a persisted step's reply waited for the store";
  EXPECT_EQ(sink->frames()[1], "persist:answer");
  ASSERT_TRUE(store.wait_jobs(1, 200ms)) << "the persisted step was not written at once";
  EXPECT_EQ(f.metrics.get_counter("partyd_replies_held_total", "", "").value(), 0u);
}

TEST(durable_reply, a_slow_store_delays_replies_by_the_timeout_at_most) {
  manual_store store;  // outlives the runtime, whose workers offer to it until they stop
  echo_fixture f(with_timeout(100));
  f.rt->set_snapshot_sink(&store);
  f.rt->start();
  auto target = f.create();
  auto sink = f.join(target, 1, role_player);
  ASSERT_TRUE(sink->wait_frames(1, 2000ms));  // released by the timeout: nothing became durable
  f.send(target, 1, make_command(in_important, 0, "x"));
  ASSERT_TRUE(sink->wait_frames(2, 2000ms));
  EXPECT_EQ(sink->frames()[1], "important:x");
  EXPECT_GE(f.metrics.get_counter("partyd_durable_reply_timeouts_total", "", "").value(), 1u);
}

TEST(durable_reply, an_unhealthy_store_does_not_hold_replies) {
  manual_store store;  // outlives the runtime, whose workers offer to it until they stop
  echo_fixture f(with_timeout(60000));
  store.set_healthy(false);
  f.rt->set_snapshot_sink(&store);
  f.rt->start();
  auto target = f.create();
  auto sink = f.join(target, 1, role_player);
  f.send(target, 1, make_command(in_important, 0, "now"));
  ASSERT_TRUE(sink->wait_frames(2));
  EXPECT_EQ(sink->frames()[1], "important:now");
}

TEST(durable_reply, admin_create_answers_once_the_room_is_durable) {
  manual_store store;  // outlives the runtime, whose workers offer to it until they stop
  echo_fixture f(with_timeout(60000));
  f.rt->set_snapshot_sink(&store);
  f.rt->start();
  std::atomic<int> answered{0};
  auto made = f.rt->create_room(*f.module, {}, [&] { answered.fetch_add(1); });
  ASSERT_TRUE(made.created);
  ASSERT_TRUE(store.wait_jobs(1));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(answered.load(), 0);
  store.make_durable();
  EXPECT_TRUE(eventually([&] { return answered.load() == 1; }));
}

TEST(durable_reply, without_a_store_nothing_waits) {
  echo_fixture f(with_timeout(60000));
  f.rt->start();
  std::atomic<int> answered{0};
  auto made = f.rt->create_room(*f.module, {}, [&] { answered.fetch_add(1); });
  ASSERT_TRUE(made.created);
  EXPECT_TRUE(eventually([&] { return answered.load() == 1; }));
  auto sink = f.join(made.created, 1, role_player);
  f.send(made.created, 1, make_command(in_important, 0, "free"));
  ASSERT_TRUE(sink->wait_frames(2));
}

TEST(durable_reply, closing_the_room_releases_held_frames_first) {
  manual_store store;  // outlives the runtime, whose workers offer to it until they stop
  echo_fixture f(with_timeout(60000));
  f.rt->set_snapshot_sink(&store);
  f.rt->start();
  auto target = f.create();
  store.wait_jobs(1);
  store.make_durable();
  auto sink = f.join(target, 1, role_player);
  ASSERT_TRUE(sink->wait_frames(1));
  f.send(target, 1, make_command(in_important, 0, "last"));
  f.send(target, 1, make_command(in_close_room, 0, "done"));
  ASSERT_TRUE(sink->wait_closed());
  const auto frames = sink->frames();
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[1], "important:last");
}

}  // namespace
}  // namespace partyd::testing
