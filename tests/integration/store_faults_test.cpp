// Store faults end to end (docs/operations.md "Persistence"), on the real partyd binary with a real
// redis-server child (tests/support/redis_server) or the embedded file store:
// - the store loses everything while partyd serves (FLUSHALL, Redis restarted empty, the data
//   directory deleted): every live room is written again and survives the next restart;
// - partyd starts while the store is down: not ready until the boot load succeeded, then every
//   stored room is there;
// - the store refuses writes: the admin API's 201 says "durable": false, /ready says degraded;
// - a snapshot under another room's key, and unreadable entries, are skipped, logged and counted.
// Every wait is bounded; the Redis tests are skipped when /usr/bin/redis-server is missing.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "support/file_snapshot.hpp"
#include "support/redis_server.hpp"
#include "support/relay_fixture.hpp"
#include "support/temp_dir.hpp"
#include "support/test_server.hpp"
#include "support/ws_client.hpp"

namespace partyd::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr std::string_view key_prefix = "partyd:room:";
const std::string marker_key = std::string(key_prefix) + ".marker";  // check_intact()'s

// A loopback port nobody listens on right now (bind 0, read it, close), other than `taken` (the
// port of a Redis that is down now and will start again).
std::uint16_t free_port(int taken) {
  for (int attempt = 0; attempt < 16; ++attempt) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    std::uint16_t port = 0;
    if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
    if (fd >= 0) ::close(fd);
    if (port != 0 && port != taken) return port;
  }
  return 0;
}

std::string field_of(const http_result& reply, std::string_view name) {
  const json::value parsed = reply.json();
  if (!parsed.is_object()) return {};
  return str(parsed.as_object(), name);
}

json::object set_game_state(json::object state) {
  return {{"type", "set_game_state"}, {"state", std::move(state)}};
}

// What a test needs to see and change behind partyd's back, for either store.
struct store_view {
  // The room codes the store holds (the Redis marker key is not a room).
  std::function<std::set<std::string>()> codes;
  // The stored snapshot envelope of `code`, as JSON text; nullopt when absent.
  std::function<std::optional<std::string>(const std::string& code)> read;
  // Copies the stored entry of room `from` under the key (file name) `to`.
  std::function<bool(const std::string& from, const std::string& to)> copy;
};

store_view redis_view(const redis_server& redis) {
  store_view view;
  view.codes = [&redis] {
    std::set<std::string> out;
    for (const auto& key :
         redis.scan(std::string(key_prefix) + "*").value_or(std::vector<std::string>{})) {
      if (key != marker_key) out.insert(key.substr(key_prefix.size()));
    }
    return out;
  };
  view.read = [&redis](const std::string& code) {
    return redis.get(std::string(key_prefix) + code);
  };
  view.copy = [&redis](const std::string& from, const std::string& to) {
    const auto value = redis.get(std::string(key_prefix) + from);
    return value && redis.set(std::string(key_prefix) + to, *value);
  };
  return view;
}

store_view file_view(const std::string& dir) {
  store_view view;
  view.codes = [dir] {
    std::set<std::string> out;
    for (const auto& [code, value] : read_snapshot_log(dir).live) {
      out.insert(code);
    }
    return out;
  };
  view.read = [dir](const std::string& code) -> std::optional<std::string> {
    return read_file_snapshot(dir, code);
  };
  // As a file of the older per-room format: the next boot reads it into the log, after the
  // records already there.
  view.copy = [dir](const std::string& from, const std::string& to) {
    const std::optional<std::string> value = read_file_snapshot(dir, from);
    return value && write_older_snapshot_file(dir, to, *value);
  };
  return view;
}

// The relay game state inside a stored envelope (an object, or its text in newer relay
// snapshots); null when absent or undecodable.
json::value stored_game_state(const std::optional<std::string>& envelope_text) {
  if (!envelope_text) return nullptr;
  boost::system::error_code ec;
  const json::value envelope = json::parse(*envelope_text, ec);
  if (ec || !envelope.is_object()) return nullptr;
  const json::value* state_text = envelope.as_object().if_contains("state");
  if (!state_text || !state_text->is_string()) return nullptr;
  const json::value state = json::parse(state_text->as_string(), ec);
  if (ec || !state.is_object()) return nullptr;
  if (const json::value* text = state.as_object().if_contains("gameStateText");
      text && text->is_string()) {
    const json::value game_state = json::parse(text->as_string(), ec);
    return ec ? json::value(nullptr) : game_state;
  }
  const json::value* game_state = state.as_object().if_contains("gameState");
  return game_state ? *game_state : json::value(nullptr);
}

class store_faults_test : public relay_fixture {
 protected:
  void kill_server() {
    ASSERT_TRUE(server_);
    server_->signal(SIGKILL);
    const auto status = server_->wait_exit(5s);
    ASSERT_TRUE(status) << "partyd did not die within 5 s of SIGKILL";
  }

  json::object ready_json() const {
    const auto reply = server_->http("GET", "/ready", {}, std::nullopt);
    const json::value parsed = reply.json();
    return parsed.is_object() ? parsed.as_object() : json::object{};
  }

  std::set<std::string> listed_codes() const {
    std::set<std::string> out;
    const auto reply = server_->http("GET", "/api/rooms");
    EXPECT_EQ(reply.status, 200) << reply.body;
    const json::value parsed = reply.json();
    if (!parsed.is_object() || !parsed.as_object().contains("rooms")) return out;
    for (const auto& item : parsed.as_object().at("rooms").as_array()) {
      out.insert(str(item.as_object(), "roomCode"));
    }
    return out;
  }

  // The keys of the snapshot_restore_failed lines in the log.
  std::set<std::string> restore_failures_logged() const {
    std::set<std::string> keys;
    for (const auto& line : server_->log_events("snapshot_restore_failed")) {
      keys.insert(str(line, "key"));
    }
    return keys;
  }

  // Fault 1: 10 rooms; the store loses everything while partyd serves (`lose`); two rooms change
  // afterwards, the other eight do not. All ten must be in the store again and come back after a
  // kill -9 and a restart.
  void store_loss_is_repaired(const std::vector<std::string>& args, const store_view& store,
                              const std::function<void()>& lose, std::string_view what);

  // Fault 4: a copy of a room's snapshot under another key (an older copy of a live room, a copy
  // of a room closed since) is skipped at the next boot, logged and counted.
  void copies_under_other_keys_are_skipped(const std::vector<std::string>& args,
                                           const store_view& store);
};

void store_faults_test::store_loss_is_repaired(const std::vector<std::string>& args,
                                               const store_view& store,
                                               const std::function<void()>& lose,
                                               std::string_view what) {
  ASSERT_NO_FATAL_FAILURE(start_server(args));
  std::vector<relay_room> rooms;
  std::set<std::string> codes;
  for (int i = 0; i < 10; ++i) {
    rooms.push_back(create_room());
    codes.insert(rooms.back().code);
  }
  ASSERT_TRUE(eventually([&] { return store.codes() == codes; }, 5s))
      << "the 10 rooms never all reached the store";

  lose();
  for (int i = 0; i < 2; ++i) {
    auto host = join_host(rooms[i]);
    ASSERT_TRUE(host);
    ASSERT_TRUE(host->send(set_game_state({{"after", what}})));
  }
  EXPECT_GE(server_->wait_metric_at_least("partyd_snapshot_store_lost_total", 1, 10s).value_or(0),
            1)
      << "the loss was not detected";
  ASSERT_TRUE(eventually([&] { return store.codes() == codes; }, 10s))
      << "after " << what << " the store holds " << store.codes().size() << " of 10 rooms";
  EXPECT_GE(server_->metric("partyd_snapshot_rewrites_total").value_or(0), 8);
  EXPECT_FALSE(server_->log_events("store_lost").empty());

  ASSERT_NO_FATAL_FAILURE(kill_server());
  ASSERT_NO_FATAL_FAILURE(start_server(args));
  const std::set<std::string> back = listed_codes();
  std::size_t restored = 0;
  for (const auto& code : codes) restored += back.count(code);
  std::cout << "rooms restored after " << what << " + kill -9 + restart: " << restored << " of "
            << codes.size() << std::endl;
  RecordProperty("rooms_restored", static_cast<int>(restored));
  EXPECT_EQ(back, codes);
  // The rooms that changed after the loss kept their change; the others can be joined.
  for (int i = 0; i < 10; ++i) {
    auto host = join_host(rooms[i]);
    ASSERT_TRUE(host) << rooms[i].code;
    if (i < 2) {
      EXPECT_EQ(host.response.at("gameState"), json::value(json::object{{"after", what}}));
    }
  }
}

void store_faults_test::copies_under_other_keys_are_skipped(const std::vector<std::string>& args,
                                                            const store_view& store) {
  ASSERT_NO_FATAL_FAILURE(start_server(args));
  const relay_room live = create_room();
  const relay_room closed = create_room();
  auto host = join_host(live);
  ASSERT_TRUE(host);
  const json::value older(json::object{{"v", 1}});
  const json::value newer(json::object{{"v", 2}});
  ASSERT_TRUE(host->send(set_game_state({{"v", 1}})));
  ASSERT_TRUE(eventually([&] { return stored_game_state(store.read(live.code)) == older; }, 5s));
  // An older copy of the live room sorts before it (scan order decided the winner before).
  ASSERT_TRUE(store.copy(live.code, "AAAAAA"));
  ASSERT_TRUE(host->send(set_game_state({{"v", 2}})));
  ASSERT_TRUE(eventually([&] { return stored_game_state(store.read(live.code)) == newer; }, 5s));
  ASSERT_TRUE(eventually([&] { return store.codes().count(closed.code) == 1; }, 5s));
  ASSERT_TRUE(store.copy(closed.code, "ZZZZZZ"));
  ASSERT_EQ(server_->http("DELETE", "/api/rooms/" + closed.code).status, 200);
  ASSERT_TRUE(eventually([&] { return store.codes().count(closed.code) == 0; }, 5s));
  ASSERT_NO_FATAL_FAILURE(kill_server());
  host = {};

  ASSERT_NO_FATAL_FAILURE(start_server(args));
  EXPECT_EQ(listed_codes(), std::set<std::string>{live.code})
      << "a copy under another key brought a room back";
  EXPECT_EQ(server_->metric("partyd_snapshots_restored_total").value_or(-1), 1);
  EXPECT_EQ(server_->metric("partyd_snapshot_restore_failures_total").value_or(-1), 2);
  EXPECT_EQ(restore_failures_logged(), (std::set<std::string>{"AAAAAA", "ZZZZZZ"}));
  host = join_host(live);
  ASSERT_TRUE(host);
  EXPECT_EQ(host.response.at("gameState"), newer) << "the older copy won";
}

// ---- 1. the store loses everything while partyd serves ----

TEST_F(store_faults_test, redis_flushall_while_serving_every_room_is_written_again) {
  if (!redis_server_available()) GTEST_SKIP() << redis_server_binary << " is missing";
  redis_server redis;
  ASSERT_TRUE(redis.start());
  store_loss_is_repaired(
      {"--store", redis.url(), "--snapshot-interval-ms", "200"}, redis_view(redis),
      [&] {
        const auto reply = redis.command({"FLUSHALL"});
        ASSERT_TRUE(reply && reply->text == "OK");
      },
      "FLUSHALL");
}

TEST_F(store_faults_test, redis_restarted_empty_while_serving_every_room_is_written_again) {
  if (!redis_server_available()) GTEST_SKIP() << redis_server_binary << " is missing";
  redis_server redis;
  ASSERT_TRUE(redis.start());
  store_loss_is_repaired(
      {"--store", redis.url(), "--snapshot-interval-ms", "200"}, redis_view(redis),
      [&] { ASSERT_TRUE(redis.restart()); }, "Redis restart without its data");
}

TEST_F(store_faults_test, file_store_directory_deleted_while_serving_every_room_is_written_again) {
  temp_dir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string data = dir.path() + "/data";
  store_loss_is_repaired(
      {"--store", "file:" + data, "--snapshot-interval-ms", "200"}, file_view(data),
      [&] {
        std::error_code ec;
        fs::remove_all(data, ec);
        ASSERT_FALSE(ec) << ec.message();
      },
      "rm -rf of the data directory");
}

// ---- 2. started while the store is down ----

// partyd starts with Redis down: /ready 503 store_unreachable, room creation and WebSocket
// upgrades refused; Redis comes back with the rooms of an earlier run: they are all there.
TEST_F(store_faults_test, redis_down_at_boot_not_ready_until_the_rooms_are_loaded) {
  if (!redis_server_available()) GTEST_SKIP() << redis_server_binary << " is missing";
  temp_dir rdb;
  ASSERT_FALSE(rdb.path().empty());
  redis_server redis;
  // Saved to an RDB file on SAVE, reloaded when it starts again.
  ASSERT_TRUE(redis.start(redis_server_options{"", {"--dir", rdb.path()}}));
  const std::vector<std::string> store_args = {"--store", redis.url()};

  ASSERT_NO_FATAL_FAILURE(start_server(store_args));
  std::vector<relay_room> rooms;
  std::set<std::string> codes;
  for (int i = 0; i < 5; ++i) {
    rooms.push_back(create_room());
    codes.insert(rooms.back().code);
  }
  const store_view store = redis_view(redis);
  ASSERT_TRUE(eventually([&] { return store.codes() == codes; }, 5s));
  EXPECT_EQ(server_->stop(), 0);
  const auto saved = redis.command({"SAVE"});
  ASSERT_TRUE(saved && saved->text == "OK") << (saved ? saved->text : "no reply");
  redis.kill();

  const std::uint16_t port = free_port(redis.port());
  ASSERT_NE(port, 0);
  std::vector<std::string> args = store_args;
  args.insert(args.end(), {"--port", std::to_string(port)});
  std::unique_ptr<test_server> booting;
  std::thread starter([&] { booting = std::make_unique<test_server>(args, 60s); });
  struct joiner {
    std::thread& t;
    ~joiner() {
      if (t.joinable()) t.join();
    }
  } join_at_exit{starter};

  http_result ready;
  EXPECT_TRUE(eventually(
      [&] {
        ready = http_request(port, "GET", "/ready");
        return ready.status == 503 && field_of(ready, "reason") == "store_unreachable";
      },
      10s))
      << "/ready: " << ready.status << " " << ready.body;
  const http_result create = http_request(
      port, "POST", "/api/rooms", {}, {{"Authorization", "Bearer " + std::string(admin_token)}});
  EXPECT_EQ(create.status, 503) << create.body;
  EXPECT_EQ(field_of(create, "error"), "not_ready") << create.body;
  const http_result upgrade = http_request(port, "GET", relay_path(), {},
                                           {{"Connection", "Upgrade"},
                                            {"Upgrade", "websocket"},
                                            {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                                            {"Sec-WebSocket-Version", "13"}});
  EXPECT_EQ(upgrade.status, 503) << upgrade.body;
  EXPECT_EQ(field_of(upgrade, "error"), "not_ready") << upgrade.body;
  ready = http_request(port, "GET", "/ready");
  EXPECT_EQ(ready.status, 503) << "still not ready while the store is down: " << ready.body;

  ASSERT_TRUE(redis.start());  // same port and directory: the saved rooms are back
  starter.join();
  ASSERT_TRUE(booting && booting->started()) << "partyd never became ready after Redis came back";
  server_ = std::move(booting);
  const std::set<std::string> back = listed_codes();
  std::cout << "rooms restored after a boot with Redis down: " << back.size() << " of "
            << codes.size()
            << " (boot attempts failed: " << server_->log_events("restore_store_unreachable").size()
            << ")" << std::endl;
  EXPECT_EQ(back, codes);
  EXPECT_EQ(server_->metric("partyd_snapshots_restored_total").value_or(-1), 5);
  EXPECT_FALSE(server_->log_events("restore_store_unreachable").empty());
  EXPECT_EQ(str(ready_json(), "storeStatus"), "ok");
  for (const auto& room : rooms) {
    auto host = join_host(room);
    EXPECT_TRUE(host) << room.code;
  }
  const auto fresh = server_->create_relay_room();
  EXPECT_EQ(fresh.at("durable"), json::value(true)) << json::serialize(fresh);
  EXPECT_EQ(codes.count(str(fresh, "roomCode")), 0u);
}

// SIGTERM while the boot load waits for the store: a clean exit (status 0), not the signal's
// default action. partyd is spawned directly: a test_server would wait for a /ready that never
// comes.
TEST_F(store_faults_test, sigterm_while_waiting_for_the_store_at_boot_exits_cleanly) {
  if (!redis_server_available()) GTEST_SKIP() << redis_server_binary << " is missing";
  redis_server redis;
  ASSERT_TRUE(redis.start());
  redis.kill();
  const std::uint16_t port = free_port(redis.port());
  ASSERT_NE(port, 0);
  std::vector<std::string> args = {
      PARTYD_BINARY, "--store",   redis.url(),   "--port", std::to_string(port),
      "--bind",      "127.0.0.1", "--log-level", "error"};
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  char* no_env[] = {nullptr};
  const int rc = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), no_env);
  posix_spawn_file_actions_destroy(&actions);
  ASSERT_EQ(rc, 0) << std::strerror(rc);
  struct reaper {
    pid_t pid;
    ~reaper() {
      if (pid > 0 && ::waitpid(pid, nullptr, WNOHANG) == 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
      }
    }
  } reap_at_exit{pid};

  http_result ready;
  ASSERT_TRUE(eventually(
      [&] {
        ready = http_request(port, "GET", "/ready");
        return field_of(ready, "reason") == "store_unreachable";
      },
      10s))
      << ready.status << " " << ready.body;
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  int status = 0;
  const bool exited = eventually([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, 10s);
  ASSERT_TRUE(exited) << "partyd did not exit within 10 s of SIGTERM";
  reap_at_exit.pid = -1;
  EXPECT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// ---- 3. confirmations while the store refuses writes ----

// Redis answers but refuses every write (maxmemory reached, noeviction), as a full disk would:
// the 201 says "durable": false and /ready says degraded; once writes work again every room is
// stored and survives kill -9.
TEST_F(store_faults_test, redis_full_confirmations_say_not_durable_until_it_takes_writes_again) {
  if (!redis_server_available()) GTEST_SKIP() << redis_server_binary << " is missing";
  redis_server redis;
  ASSERT_TRUE(redis.start());
  const std::vector<std::string> args = {"--store", redis.url(), "--durable-reply-timeout-ms",
                                         "300"};
  ASSERT_NO_FATAL_FAILURE(start_server(args));
  const store_view store = redis_view(redis);
  std::set<std::string> codes;
  const auto healthy = server_->create_relay_room();
  EXPECT_EQ(healthy.at("durable"), json::value(true)) << json::serialize(healthy);
  codes.insert(str(healthy, "roomCode"));
  EXPECT_EQ(store.codes(), codes) << "durable: true, so it is in the store";

  ASSERT_TRUE(redis.command({"CONFIG", "SET", "maxmemory-policy", "noeviction"}));
  ASSERT_TRUE(redis.command({"CONFIG", "SET", "maxmemory", "1"}));
  std::vector<json::object> while_full;
  for (int i = 0; i < 10; ++i) {
    while_full.push_back(server_->create_relay_room());
    codes.insert(str(while_full.back(), "roomCode"));
  }
  std::size_t not_durable = 0;
  for (const auto& reply : while_full) {
    EXPECT_EQ(reply.at("durable"), json::value(false)) << json::serialize(reply);
    not_durable += reply.at("durable") == json::value(false) ? 1 : 0;
  }
  std::cout << "rooms confirmed while Redis refused writes: " << while_full.size()
            << ", confirmed with durable false: " << not_durable << std::endl;
  EXPECT_TRUE(eventually([&] { return str(ready_json(), "storeStatus") == "degraded"; }, 5s));
  EXPECT_EQ(server_->http("GET", "/ready", {}, std::nullopt).status, 200);
  EXPECT_EQ(store.codes().size(), 1u) << "the store refused them: not durable indeed";
  // In-game confirmations keep their wire format and are not held (best effort).
  const relay_room first{str(while_full.front(), "roomCode"), str(while_full.front(), "hostKey")};
  auto player = join_player(first);
  ASSERT_TRUE(player);
  EXPECT_FALSE(player.response.contains("durable"));

  ASSERT_TRUE(redis.command({"CONFIG", "SET", "maxmemory", "0"}));
  EXPECT_TRUE(eventually([&] { return str(ready_json(), "storeStatus") == "ok"; }, 10s));
  EXPECT_TRUE(eventually([&] { return store.codes() == codes; }, 10s))
      << "the store holds " << store.codes().size() << " of " << codes.size() << " rooms";
  const auto after = server_->create_relay_room();
  EXPECT_EQ(after.at("durable"), json::value(true)) << json::serialize(after);
  codes.insert(str(after, "roomCode"));
  ASSERT_NO_FATAL_FAILURE(kill_server());
  player = {};
  ASSERT_NO_FATAL_FAILURE(start_server(args));
  EXPECT_EQ(listed_codes(), codes);
}

TEST_F(store_faults_test, memory_store_confirmations_say_not_durable) {
  ASSERT_NO_FATAL_FAILURE(start_server({"--store", "memory"}));
  const auto reply = server_->create_relay_room();
  EXPECT_EQ(reply.at("durable"), json::value(false)) << json::serialize(reply);
}

// ---- 4. a snapshot under another room's key ----

TEST_F(store_faults_test, redis_snapshot_under_another_key_is_skipped_logged_and_counted) {
  if (!redis_server_available()) GTEST_SKIP() << redis_server_binary << " is missing";
  redis_server redis;
  ASSERT_TRUE(redis.start());
  copies_under_other_keys_are_skipped(
      {"--store", redis.url(), "--snapshot-interval-ms", "100", "--log-level", "info"},
      redis_view(redis));
}

TEST_F(store_faults_test, file_store_snapshot_under_another_name_is_skipped_logged_and_counted) {
  temp_dir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string data = dir.path() + "/data";
  copies_under_other_keys_are_skipped(
      {"--store", "file:" + data, "--snapshot-interval-ms", "100", "--log-level", "info"},
      file_view(data));
}

// ---- 5. unreadable entries are logged and counted ----

TEST_F(store_faults_test, file_store_unreadable_older_snapshot_files_are_logged_and_counted) {
  temp_dir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string data = dir.path() + "/data";
  const std::vector<std::string> args = {"--store", "file:" + data};
  ASSERT_NO_FATAL_FAILURE(start_server(args));
  const relay_room room = create_room();
  ASSERT_TRUE(eventually([&] { return file_view(data).codes().count(room.code) == 1; }, 5s));
  ASSERT_NO_FATAL_FAILURE(kill_server());

  fs::create_directory(data + "/DIRDIR.snap");
  fs::create_symlink(data + "/" + room.code + ".snap", data + "/LINKED.snap");
  std::ofstream(data + "/EMPTYY.snap");
  std::ofstream(data + "/no header.snap") << "bytes";
  ASSERT_NO_FATAL_FAILURE(start_server(args));
  EXPECT_EQ(listed_codes(), std::set<std::string>{room.code});
  EXPECT_EQ(server_->metric("partyd_snapshot_restore_failures_total").value_or(-1), 4);
  EXPECT_EQ(restore_failures_logged(),
            (std::set<std::string>{"DIRDIR", "LINKED", "EMPTYY", "no header.snap"}));
  for (const auto& line : server_->log_events("snapshot_restore_failed")) {
    EXPECT_FALSE(str(line, "error").empty()) << json::serialize(line);
  }
}

TEST_F(store_faults_test, file_store_damaged_log_record_is_skipped_logged_and_counted) {
  temp_dir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string data = dir.path() + "/data";
  const std::vector<std::string> args = {"--store", "file:" + data, "--log-level", "info"};
  ASSERT_NO_FATAL_FAILURE(start_server(args));
  const relay_room kept = create_room();
  const relay_room damaged = create_room();
  ASSERT_TRUE(eventually([&] { return file_view(data).codes().size() == 2; }, 5s));
  ASSERT_NO_FATAL_FAILURE(kill_server());

  // One flipped byte inside the damaged room's newest record (after its code in the log).
  const std::string log_path = data + "/snapshots.log";
  std::string log;
  {
    std::ifstream in(log_path, std::ios::binary);
    log.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const auto at = log.rfind(damaged.code);
  ASSERT_NE(at, std::string::npos);
  log[at + damaged.code.size() + 2] ^= 0x01;
  std::ofstream(log_path, std::ios::binary | std::ios::trunc) << log;

  ASSERT_NO_FATAL_FAILURE(start_server(args));
  EXPECT_EQ(listed_codes(), std::set<std::string>{kept.code});
  EXPECT_EQ(server_->metric("partyd_snapshot_restore_failures_total").value_or(-1), 1);
  EXPECT_EQ(restore_failures_logged(), std::set<std::string>{"snapshots.log"});
  // The rooms after it are read, and new writes follow: a third boot sees the same.
  const relay_room later = create_room();
  ASSERT_TRUE(eventually([&] { return file_view(data).codes().count(later.code) == 1; }, 5s));
  ASSERT_NO_FATAL_FAILURE(kill_server());
  ASSERT_NO_FATAL_FAILURE(start_server(args));
  EXPECT_EQ(listed_codes(), (std::set<std::string>{kept.code, later.code}));
}

TEST_F(store_faults_test, redis_entry_of_another_type_is_logged_and_counted) {
  if (!redis_server_available()) GTEST_SKIP() << redis_server_binary << " is missing";
  redis_server redis;
  ASSERT_TRUE(redis.start());
  const std::vector<std::string> args = {"--store", redis.url()};
  ASSERT_NO_FATAL_FAILURE(start_server(args));
  const relay_room room = create_room();
  ASSERT_TRUE(eventually([&] { return redis_view(redis).codes().count(room.code) == 1; }, 5s));
  ASSERT_NO_FATAL_FAILURE(kill_server());
  ASSERT_TRUE(redis.command({"HSET", std::string(key_prefix) + "HASHED", "f", "v"}));

  ASSERT_NO_FATAL_FAILURE(start_server(args));
  EXPECT_EQ(listed_codes(), std::set<std::string>{room.code});
  EXPECT_EQ(server_->metric("partyd_snapshot_restore_failures_total").value_or(-1), 1);
  EXPECT_EQ(restore_failures_logged(), std::set<std::string>{"HASHED"});
}

}  // namespace
}  // namespace partyd::testing
