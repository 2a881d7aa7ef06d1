// Engine micro benchmarks: room inbox push/drain (one and four producers), timer wheel
// schedule/expire, a broadcast serialized once and delivered to 8 and 100 sinks (in-thread, and
// through a real runtime and worker), and metric updates. See bench/README.md.
#include <benchmark/benchmark.h>

#include <atomic>
#include <barrier>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "engine/effects.hpp"
#include "engine/game.hpp"
#include "engine/metrics.hpp"
#include "engine/room.hpp"
#include "engine/runtime.hpp"
#include "engine/timer_wheel.hpp"

namespace partyd {
namespace {

// ----- a minimal game for rooms and workers -----

// Command 0 binds the sender as a player; command 1 broadcasts a ~200 B state to the players.
class fanout_game final : public game {
 public:
  void step(const input& in, time_ms now, room_rng& rng, effects& out) override {
    if (in.kind != input_kind::command || !in.cmd) {
      return;
    }
    if (in.cmd->type == 0) {
      out.bind(in.conn, 1, true);
      return;
    }
    boost::json::object frame;
    frame["type"] = "game_state";
    frame["state"] =
        boost::json::object{{"phase", "question"},
                            {"round", ++round_},
                            {"question", "Which planet has the most moons?"},
                            {"choices", boost::json::array{"Mars", "Jupiter", "Saturn", "Neptune"}},
                            {"deadline", now + 20000}};
    out.send_roles(role_bit(1), 0, make_frame(boost::json::serialize(frame)));
  }
  std::string snapshot() const override { return {}; }
  room_summary summary() const noexcept override { return {}; }

 private:
  std::int64_t round_ = 0;
};

class fanout_module final : public game_module {
 public:
  std::string_view name() const noexcept override { return "fanout"; }
  std::string_view ws_path() const noexcept override { return "/fanout"; }
  std::size_t max_message_bytes() const noexcept override { return 1024; }
  std::span<const std::string_view> role_names() const noexcept override { return roles_; }
  std::span<const std::string_view> in_types() const noexcept override { return in_; }
  std::span<const std::string_view> out_types() const noexcept override { return out_; }
  decode_result decode(std::string_view, bool) const override { return {}; }
  std::string encode_error(std::string_view, std::string_view) const override { return {}; }
  create_result create(const boost::json::object&, std::string_view) const override {
    create_result made;
    made.instance = std::make_unique<fanout_game>();
    return made;
  }
  std::unique_ptr<game> restore(std::string_view) const override { return nullptr; }

 private:
  static constexpr std::string_view roles_[] = {"host", "player"};
  static constexpr std::string_view in_[] = {"join", "broadcast"};
  static constexpr std::string_view out_[] = {"game_state"};
};

// A connection that only counts what it is given.
class counting_sink final : public connection_sink {
 public:
  explicit counting_sink(connection_id id) : id_(id) {}
  connection_id id() const noexcept override { return id_; }
  void deliver(const frame_ptr& frame) noexcept override {
    bytes_.fetch_add(frame->size(), std::memory_order_relaxed);
    frames_.fetch_add(1, std::memory_order_release);
  }
  void bind(role_id, bool) noexcept override {}
  void close(std::uint16_t, std::string_view) noexcept override {}
  std::uint64_t frames() const noexcept { return frames_.load(std::memory_order_acquire); }

 private:
  connection_id id_;
  std::atomic<std::uint64_t> frames_{0};
  std::atomic<std::uint64_t> bytes_{0};
};

command_ptr make_command(std::uint16_t type) {
  auto cmd = std::make_unique<command>();
  cmd->type = type;
  return cmd;
}

input command_input(connection_id conn, std::uint16_t type) {
  input in;
  in.kind = input_kind::command;
  in.conn = conn;
  in.cmd = make_command(type);
  return in;
}

std::shared_ptr<room> make_room(const game_module& module, std::size_t inbox_max) {
  return std::make_shared<room>(1, "BENCH1", module, module.create({}, "BENCH1").instance, 1, 0,
                                inbox_max, 0);
}

// ----- inbox -----

// One producer pushes a batch of commands, then the same thread drains them.
void BM_inbox_push_drain_1_producer(benchmark::State& state) {
  fanout_module module;
  auto target = make_room(module, 1 << 16);
  constexpr int batch = 1024;
  room_input out;
  for (auto _ : state) {
    for (int i = 0; i < batch; ++i) {
      target->push(command_input(static_cast<connection_id>(i), 1), false);
    }
    for (int i = 0; i < batch; ++i) {
      target->pop(out);
    }
    out = input{};
  }
  state.SetItemsProcessed(state.iterations() * batch);
}
BENCHMARK(BM_inbox_push_drain_1_producer);

// Four producer threads push concurrently while the benchmark thread drains (the worker's side).
void BM_inbox_push_drain_4_producers(benchmark::State& state) {
  fanout_module module;
  auto target = make_room(module, 1 << 16);
  constexpr int producers = 4;
  constexpr int per_producer = 1024;
  std::atomic<bool> stopping{false};
  std::barrier start(producers + 1);
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      for (;;) {
        start.arrive_and_wait();
        if (stopping.load(std::memory_order_acquire)) {
          return;
        }
        for (int i = 0; i < per_producer; ++i) {
          while (target->push(command_input(static_cast<connection_id>(p), 1), false) !=
                 push_result::accepted) {
            std::this_thread::yield();
          }
        }
      }
    });
  }
  room_input out;
  for (auto _ : state) {
    start.arrive_and_wait();
    int drained = 0;
    while (drained < producers * per_producer) {
      if (target->pop(out)) {
        ++drained;
      } else {
        std::this_thread::yield();
      }
    }
  }
  stopping.store(true, std::memory_order_release);
  start.arrive_and_wait();
  for (auto& t : threads) {
    t.join();
  }
  state.SetItemsProcessed(state.iterations() * producers * per_producer);
}
BENCHMARK(BM_inbox_push_drain_4_producers)->UseRealTime();

// ----- timer wheel -----

// Schedules a batch spread over the next 30 s, then expires them all in one advance.
void BM_timer_wheel_schedule_expire(benchmark::State& state) {
  const auto batch = static_cast<int>(state.range(0));
  timer_wheel wheel(0);
  std::mt19937_64 gen(1);
  std::vector<time_ms> offsets(static_cast<std::size_t>(batch));
  for (auto& d : offsets) d = static_cast<time_ms>(gen() % 30000);
  std::vector<timer_wheel::entry> expired;
  time_ms now = 0;
  for (auto _ : state) {
    for (int i = 0; i < batch; ++i) {
      wheel.schedule(now + offsets[static_cast<std::size_t>(i)], 1, static_cast<std::uint64_t>(i),
                     0);
    }
    now += 30000;
    wheel.advance(now, expired);
    benchmark::DoNotOptimize(expired.data());
  }
  state.SetItemsProcessed(state.iterations() * batch);
}
BENCHMARK(BM_timer_wheel_schedule_expire)->Arg(1024)->Arg(65536);

// Steady state: 10,000 pending timers; each iteration advances one 10 ms tick and re-arms
// whatever expired 0-30 s ahead (a worker with many rooms, each with a running timer).
void BM_timer_wheel_tick_steady_state(benchmark::State& state) {
  timer_wheel wheel(0);
  std::mt19937_64 gen(2);
  for (int i = 0; i < 10000; ++i) {
    wheel.schedule(static_cast<time_ms>(gen() % 30000), 1, static_cast<std::uint64_t>(i), 0);
  }
  std::vector<timer_wheel::entry> expired;
  time_ms now = 0;
  std::uint64_t fired = 0;
  for (auto _ : state) {
    now += 10;
    wheel.advance(now, expired);
    for (const auto& e : expired) {
      wheel.schedule(now + 1 + static_cast<time_ms>(gen() % 30000), e.owner, e.key, 0);
    }
    fired += expired.size();
    benchmark::DoNotOptimize(wheel.next_wake());
  }
  state.counters["fired_per_tick"] =
      benchmark::Counter(static_cast<double>(fired) / static_cast<double>(state.iterations()));
}
BENCHMARK(BM_timer_wheel_tick_steady_state);

// ----- broadcast -----

// What one broadcast costs the worker: the game builds and serializes its frame once, and the
// frame is handed to every bound connection of the roles in id order (as worker::apply does).
void BM_effects_broadcast(benchmark::State& state) {
  const auto recipients = static_cast<connection_id>(state.range(0));
  std::map<connection_id, std::shared_ptr<counting_sink>> connections;
  for (connection_id id = 1; id <= recipients; ++id) {
    connections.emplace(id, std::make_shared<counting_sink>(id));
  }
  fanout_game game;
  room_rng rng;
  effects out;
  input in = command_input(1, 1);
  for (auto _ : state) {
    game.step(in, 1000, rng, out);
    for (const effect& e : out.list()) {
      for (auto& [id, sink] : connections) {
        if (id != e.except) {
          sink->deliver(e.frame);
        }
      }
    }
    out.clear();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(recipients));
  state.counters["frames"] = static_cast<double>(connections.begin()->second->frames());
}
BENCHMARK(BM_effects_broadcast)->Arg(8)->Arg(100);

// The same broadcast through the engine: submit, inbox, worker pass, step, apply, deliver. Each
// iteration submits 256 broadcasts and waits until the last recipient has counted them all.
void BM_worker_broadcast(benchmark::State& state) {
  const auto recipients = static_cast<connection_id>(state.range(0));
  metrics_registry metrics;
  runtime_options options;
  options.inbox_max = 1 << 16;
  runtime rt(options, metrics);
  rt.add_module(std::make_unique<fanout_module>());
  rt.start();
  auto made = rt.create_room(*rt.module_by_name("fanout"), {});
  std::vector<std::shared_ptr<counting_sink>> sinks;
  for (connection_id id = 1; id <= recipients; ++id) {
    sinks.push_back(std::make_shared<counting_sink>(id));
    room_input join = command_input(id, 0);
    join.sink = sinks.back();
    rt.submit(made.created, std::move(join));
  }
  constexpr int batch = 256;
  std::uint64_t expected = 0;
  for (auto _ : state) {
    for (int i = 0; i < batch; ++i) {
      rt.submit(made.created, command_input(1, 1));
    }
    expected += batch;
    while (sinks.back()->frames() < expected) {
      std::this_thread::yield();
    }
  }
  rt.stop();
  state.SetItemsProcessed(state.iterations() * batch * static_cast<std::int64_t>(recipients));
}
BENCHMARK(BM_worker_broadcast)->Arg(8)->Arg(100)->UseRealTime();

// ----- metrics -----

void BM_counter_inc(benchmark::State& state) {
  static metrics_registry registry;
  counter& c = registry.get_counter("bench_total", "", "Benchmark counter");
  for (auto _ : state) {
    c.inc();
  }
  benchmark::DoNotOptimize(c.value());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_counter_inc)->Threads(1)->Threads(2);

void BM_histogram_observe(benchmark::State& state) {
  metrics_registry registry;
  histogram& h = registry.get_histogram("bench_seconds", "", "Benchmark histogram");
  std::uint64_t micros = 0;
  for (auto _ : state) {
    h.observe_us(micros);
    micros = (micros + 37) % 3000;
  }
  benchmark::DoNotOptimize(h.count());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_histogram_observe);

}  // namespace
}  // namespace partyd
