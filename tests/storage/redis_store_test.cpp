// The Redis store against a real redis-server that each test starts on a free loopback port
// (tests/support/redis_server.hpp). Skipped only where /usr/bin/redis-server is missing.
#include "storage/redis_store.hpp"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "storage/snapshot_store.hpp"
#include "support/redis_server.hpp"

namespace partyd {
namespace {

using testing::redis_server;
using testing::redis_server_options;
using clock_type = std::chrono::steady_clock;

const std::string prefix = "partyd:room:";

struct reply_deleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;
struct context_deleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
using context_ptr = std::unique_ptr<redisContext, context_deleter>;

std::unique_ptr<snapshot_store> make_store(const std::string& url,
                                           const std::string& key_prefix = prefix) {
  std::string error;
  auto store = make_snapshot_store(url, key_prefix, error);
  EXPECT_TRUE(store) << error;
  return store;
}

std::map<std::string, std::string> load(snapshot_store& store) {
  std::map<std::string, std::string> out;
  const store_result r = store.load_all([&](std::string_view key, std::string_view value) {
    EXPECT_TRUE(out.emplace(std::string(key), std::string(value)).second) << "visited twice";
  });
  EXPECT_TRUE(r.ok) << r.error;
  return out;
}

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

class RedisStore : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::redis_server_available()) {
      GTEST_SKIP() << testing::redis_server_binary << " is not installed";
    }
    ASSERT_TRUE(server_.start(redis_server_options{password_, {}}));
  }

  // A command on a raw connection, behind the store's back (AUTHed and SELECTed).
  reply_ptr raw(int db, const char* format, const std::string& arg) {
    const timeval timeout{2, 0};
    const context_ptr c(redisConnectWithTimeout("127.0.0.1", server_.port(), timeout));
    EXPECT_TRUE(c && c->err == 0);
    if (!c || c->err != 0) {
      return nullptr;
    }
    redisSetTimeout(c.get(), timeout);
    if (!password_.empty()) {
      reply_ptr(static_cast<redisReply*>(redisCommand(c.get(), "AUTH %s", password_.c_str())));
    }
    if (db != 0) {
      reply_ptr(static_cast<redisReply*>(redisCommand(c.get(), "SELECT %d", db)));
    }
    return reply_ptr(
        static_cast<redisReply*>(redisCommand(c.get(), format, arg.data(), arg.size())));
  }

  std::string password_;
  redis_server server_;
};

class RedisStoreWithPassword : public RedisStore {
 protected:
  RedisStoreWithPassword() { password_ = "s3cret-p@ss/word"; }
};

TEST_F(RedisStore, RoundTripBinarySafe) {
  auto store = make_store(server_.url({}, 0));
  EXPECT_EQ(store->describe(), server_.url({}, 0));
  const std::string binary("\0\r\n$3\r\nSET\xff\0", 13);
  ASSERT_TRUE(store->write({{"ABCD", "alpha", 0}, {"bin", binary, 0}, {"empty", "", 0}}).ok);
  ASSERT_TRUE(store->write({{"ABCD", "alpha-2", 0}}).ok);  // overwrite keeps the newest
  EXPECT_EQ(load(*store), (std::map<std::string, std::string>{
                              {"ABCD", "alpha-2"}, {"bin", binary}, {"empty", ""}}));
  const reply_ptr r = raw(0, "GET %b", prefix + "bin");
  ASSERT_TRUE(r);
  EXPECT_EQ(std::string(r->str, r->len), binary);
  EXPECT_TRUE(store->ping().ok);
}

TEST_F(RedisStore, TtlIsSetPerRecord) {
  auto store = make_store(server_.url({}, 0));
  ASSERT_TRUE(store->write({{"short", "s", 100}, {"day", "d", 86400}, {"never", "n", 0}}).ok);
  reply_ptr r = raw(0, "TTL %b", prefix + "short");
  ASSERT_TRUE(r);
  EXPECT_GE(r->integer, 95);
  EXPECT_LE(r->integer, 100);
  r = raw(0, "TTL %b", prefix + "day");
  EXPECT_GE(r->integer, 86395);
  r = raw(0, "TTL %b", prefix + "never");
  EXPECT_EQ(r->integer, -1);  // no expiry
}

TEST_F(RedisStore, RemoveDeletesAndIgnoresMissing) {
  auto store = make_store(server_.url({}, 0));
  ASSERT_TRUE(store->write({{"a", "1", 0}, {"b", "2", 0}}).ok);
  const store_result r = store->remove({"a", "never-written"});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(load(*store), (std::map<std::string, std::string>{{"b", "2"}}));
  EXPECT_EQ(raw(0, "EXISTS %b", prefix + "a")->integer, 0);
  EXPECT_TRUE(store->remove({}).ok);
}

TEST_F(RedisStore, QuarantineMovesKeysAsideWithTheirTtl) {
  auto store = make_store(server_.url({}, 0));
  ASSERT_TRUE(store->write({{"bad", "b", 100}, {"good", "g", 100}}).ok);
  const store_result r = store->quarantine({"bad", "never-written"});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(load(*store), (std::map<std::string, std::string>{{"good", "g"}}));
  std::map<std::string, std::string> kept;
  ASSERT_TRUE(store
                  ->load_quarantined([&](std::string_view key, std::string_view value) {
                    kept.emplace(std::string(key), std::string(value));
                  })
                  .ok);
  EXPECT_EQ(kept, (std::map<std::string, std::string>{{"bad", "b"}}));
  const reply_ptr ttl = raw(0, "TTL %b", std::string("partyd:quarantine:bad"));
  ASSERT_TRUE(ttl);
  EXPECT_GE(ttl->integer, 95);
  EXPECT_LE(ttl->integer, 100);
  EXPECT_TRUE(store->quarantine({}).ok);
}

TEST_F(RedisStore, LoadAllPagesThroughFiveThousandKeys) {
  auto store = make_store(server_.url({}, 0));
  std::vector<snapshot_record> all;
  for (int i = 0; i < 5000; ++i) {
    all.push_back({"room" + std::to_string(i), "value-" + std::to_string(i * 7), 3600});
  }
  // Batches of 1000, then all 5000 at once: more than one pipeline chunk in a single write.
  for (std::size_t i = 0; i < all.size(); i += 1000) {
    const std::vector<snapshot_record> batch(all.begin() + i, all.begin() + i + 1000);
    ASSERT_TRUE(store->write(batch).ok);
  }
  const store_result r = store->write(all);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(raw(0, "DBSIZE%b", "")->integer, 5000);

  const auto loaded = load(*store);
  ASSERT_EQ(loaded.size(), 5000u);
  for (const auto& rec : all) {
    ASSERT_EQ(loaded.at(rec.key), rec.value);
  }
}

TEST_F(RedisStore, OnlyKeysUnderThePrefixAreVisited) {
  auto store = make_store(server_.url({}, 0));
  ASSERT_TRUE(store->write({{"mine", "m", 0}}).ok);
  raw(0, "SET other:room:x %b", "o");
  raw(0, "SET partyd:roomX %b", "no colon");
  raw(0, "SET partyd:room %b", "prefix itself is not a room");  // shorter than the prefix + key
  raw(0, "HSET partyd:room:hash f %b", "not a string");         // WRONGTYPE on GET: skipped
  std::map<std::string, std::string> skipped;
  store->set_skip_observer([&](std::string_view key, std::string_view reason) {
    skipped.emplace(std::string(key), std::string(reason));
  });
  const auto loaded = load(*store);
  EXPECT_EQ(loaded, (std::map<std::string, std::string>{{"mine", "m"}}));
  ASSERT_EQ(skipped.size(), 1u) << "only the hash is a skipped entry";
  EXPECT_NE(skipped["hash"].find("WRONGTYPE"), std::string::npos) << skipped["hash"];
}

TEST_F(RedisStore, CheckIntactDetectsAFlushAndARestart) {
  auto store = make_store(server_.url({}, 0));
  std::string lost = "unset";
  ASSERT_TRUE(store->check_intact(lost).ok);  // the first call writes the marker
  EXPECT_EQ(lost, "");
  EXPECT_EQ(raw(0, "EXISTS %b", prefix + ".marker")->integer, 1);
  ASSERT_TRUE(store->write({{"A", "a", 0}}).ok);
  EXPECT_EQ(load(*store), (std::map<std::string, std::string>{{"A", "a"}})) << "marker visited";
  ASSERT_TRUE(store->check_intact(lost).ok);
  EXPECT_EQ(lost, "") << "nothing happened";

  raw(0, "FLUSHALL%b", "");
  ASSERT_TRUE(store->check_intact(lost).ok);
  EXPECT_NE(lost.find("marker"), std::string::npos) << lost;
  ASSERT_TRUE(store->check_intact(lost).ok);
  EXPECT_EQ(lost, "") << "the marker was written again: reported once";

  // A restart that kept the marker (older data reloaded) still counts: the run_id changed.
  ASSERT_TRUE(server_.restart());
  raw(0, "SET %b 1", prefix + ".marker");
  ASSERT_TRUE(store->check_intact(lost).ok);
  EXPECT_NE(lost.find("run_id"), std::string::npos) << lost;
  ASSERT_TRUE(store->check_intact(lost).ok);
  EXPECT_EQ(lost, "");

  // Down: nothing is known, and the loss is reported once it answers again.
  server_.stop();
  EXPECT_FALSE(store->check_intact(lost).ok);
  ASSERT_TRUE(server_.start());
  ASSERT_TRUE(store->check_intact(lost).ok);
  EXPECT_FALSE(lost.empty());

  // A new store on a database that holds a marker starts from what it finds.
  auto fresh = make_store(server_.url({}, 0));
  ASSERT_TRUE(fresh->check_intact(lost).ok);
  EXPECT_EQ(lost, "");
}

TEST_F(RedisStore, GlobCharactersInThePrefixAreMatchedLiterally) {
  auto store = make_store(server_.url({}, 0), "p*[x]?:");
  ASSERT_TRUE(store->write({{"k", "v", 0}}).ok);
  raw(0, "SET pZZx!:k %b", "would match an unescaped pattern");
  EXPECT_EQ(load(*store), (std::map<std::string, std::string>{{"k", "v"}}));
}

TEST_F(RedisStoreWithPassword, PasswordAndDbFromTheUrl) {
  // The password holds '@' and '/', percent-encoded in the URL as a URL should have it.
  auto store = make_store(server_.url(":s3cret-p%40ss%2Fword@", 3));
  ASSERT_TRUE(store);
  EXPECT_EQ(store->describe(), server_.url({}, 3));
  const store_result w = store->write({{"r1", "in db 3", 60}});
  ASSERT_TRUE(w.ok) << w.error;
  reply_ptr r = raw(3, "GET %b", prefix + "r1");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->type, REDIS_REPLY_STRING);
  EXPECT_EQ(std::string(r->str, r->len), "in db 3");
  r = raw(0, "GET %b", prefix + "r1");
  EXPECT_EQ(r->type, REDIS_REPLY_NIL);
  EXPECT_EQ(load(*store).size(), 1u);

  // Unencoded '@' and '/' work too: userinfo ends at the last '@'.
  auto plain = make_store(server_.url(":s3cret-p@ss/word@", 3));
  ASSERT_TRUE(plain);
  EXPECT_TRUE(plain->ping().ok);
}

TEST_F(RedisStoreWithPassword, WrongOrMissingPasswordFailsWithoutLeakingIt) {
  auto wrong = make_store(server_.url(":wrong-hunter2@", 0));
  const store_result r = wrong->write({{"k", "v", 0}});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("AUTH"), std::string::npos) << r.error;
  EXPECT_EQ(r.error.find("hunter2"), std::string::npos) << r.error;
  EXPECT_EQ(wrong->describe().find("hunter2"), std::string::npos);
  EXPECT_FALSE(wrong->ping().ok);

  auto none = make_store(server_.url({}, 0));
  const store_result n = none->write({{"k", "v", 0}});
  EXPECT_FALSE(n.ok);
  EXPECT_NE(n.error.find("NOAUTH"), std::string::npos) << n.error;
  EXPECT_FALSE(none->load_all([](std::string_view, std::string_view) {}).ok);
}

TEST_F(RedisStore, RedisDownFailsQuicklyThenReconnects) {
  auto store = make_store(server_.url({}, 0));
  ASSERT_TRUE(store->write({{"before", "1", 0}}).ok);
  server_.stop();

  auto t0 = clock_type::now();
  const store_result down = store->write({{"during", "2", 0}});
  EXPECT_FALSE(down.ok);
  EXPECT_FALSE(down.error.empty());
  EXPECT_LT(seconds_since(t0), 3.0);
  t0 = clock_type::now();
  EXPECT_FALSE(store->ping().ok);
  EXPECT_FALSE(store->load_all([](std::string_view, std::string_view) {}).ok);
  EXPECT_LT(seconds_since(t0), 3.0);

  ASSERT_TRUE(server_.start());  // same port, empty data set
  const store_result up = store->write({{"during", "2", 0}});
  ASSERT_TRUE(up.ok) << up.error;
  EXPECT_EQ(load(*store), (std::map<std::string, std::string>{{"during", "2"}}));
}

TEST_F(RedisStore, RestartBetweenCallsIsNotAnError) {
  auto store = make_store(server_.url({}, 0));
  ASSERT_TRUE(store->write({{"a", "1", 0}}).ok);
  server_.stop();
  ASSERT_TRUE(server_.start());
  // The idle connection died with the old server; the store notices before using it.
  const store_result r = store->write({{"b", "2", 0}});
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(store->ping().ok);
}

TEST_F(RedisStore, StartsWhileRedisIsDown) {
  server_.stop();
  auto store = make_store(server_.url({}, 0));  // no connection attempt yet
  ASSERT_TRUE(store);
  const auto t0 = clock_type::now();
  EXPECT_FALSE(store->write({{"k", "v", 0}}).ok);
  EXPECT_LT(seconds_since(t0), 3.0);
  ASSERT_TRUE(server_.start());
  EXPECT_TRUE(store->write({{"k", "v", 0}}).ok);
}

TEST_F(RedisStore, UnresponsiveRedisTimesOut) {
  auto store = make_store(server_.url({}, 0));
  ASSERT_TRUE(store->write({{"k", "1", 0}}).ok);
  server_.pause();  // accepts nothing, answers nothing, keeps the connection open
  const auto t0 = clock_type::now();
  const store_result r = store->write({{"k", "2", 0}});
  const double waited = seconds_since(t0);
  server_.resume();
  EXPECT_FALSE(r.ok);
  EXPECT_GE(waited, 1.5);  // the 2 s command timeout, not an instant error
  EXPECT_LT(waited, 3.0);
  const store_result after = store->write({{"k", "3", 0}});
  EXPECT_TRUE(after.ok) << after.error;
}

TEST_F(RedisStore, ServerClosingMidPipelineFailsTheBatchThenRecovers) {
  // A bulk longer than proto-max-bulk-len makes Redis answer an error and close the connection
  // while the pipeline is still being written.
  server_.stop();
  ASSERT_TRUE(server_.start(redis_server_options{password_, {"--proto-max-bulk-len", "1mb"}}));
  auto store = make_store(server_.url({}, 0));
  std::vector<snapshot_record> big;
  for (int i = 0; i < 8; ++i) {
    big.push_back({"big" + std::to_string(i), std::string(4 << 20, 'x'), 0});
  }
  const store_result r = store->write(big);
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.error.empty());
  const store_result after = store->write({{"small", "ok", 0}});
  EXPECT_TRUE(after.ok) << after.error;
}

TEST_F(RedisStore, ServerDyingMidWriteFailsTheBatch) {
  auto store = make_store(server_.url({}, 0));
  ASSERT_TRUE(store->write({{"k", "1", 0}}).ok);
  // 64 MiB cannot fit in the socket buffers of a paused server: the write blocks, and the server
  // dies under it.
  std::vector<snapshot_record> big;
  for (int i = 0; i < 64; ++i) {
    big.push_back({"big" + std::to_string(i), std::string(1 << 20, 'x'), 0});
  }
  server_.pause();
  std::thread killer([this] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    server_.stop();
  });
  const auto t0 = clock_type::now();
  const store_result r = store->write(big);
  killer.join();
  EXPECT_FALSE(r.ok);
  EXPECT_LT(seconds_since(t0), 3.0);
}

TEST(StoreSetting, MemoryAndFileAndRedisAreRecognised) {
  std::string error = "stale";
  EXPECT_EQ(make_snapshot_store("memory", prefix, error), nullptr);
  EXPECT_TRUE(error.empty());

  auto file = make_snapshot_store("file:/tmp/partyd-x", prefix, error);
  ASSERT_TRUE(file) << error;
  EXPECT_EQ(file->describe(), "file:/tmp/partyd-x");
  file = make_snapshot_store("/var/lib/partyd", prefix, error);
  ASSERT_TRUE(file) << error;
  EXPECT_EQ(file->describe(), "file:/var/lib/partyd");
  file = make_snapshot_store("./snapshots", prefix, error);
  ASSERT_TRUE(file) << error;
  EXPECT_EQ(file->describe(), "file:./snapshots");

  auto redis = make_snapshot_store("redis://cache.internal", prefix, error);
  ASSERT_TRUE(redis) << error;
  EXPECT_EQ(redis->describe(), "redis://cache.internal:6379/0");
  redis = make_snapshot_store("redis://:pw@10.0.0.5:7000/15", prefix, error);
  ASSERT_TRUE(redis) << error;
  EXPECT_EQ(redis->describe(), "redis://10.0.0.5:7000/15");
  redis = make_snapshot_store("redis://[::1]:6380/2", prefix, error);
  ASSERT_TRUE(redis) << error;
  EXPECT_EQ(redis->describe(), "redis://[::1]:6380/2");
  redis = make_snapshot_store("redis://localhost:6379/", prefix, error);
  ASSERT_TRUE(redis) << error;
  EXPECT_EQ(redis->describe(), "redis://localhost:6379/0");
}

TEST(StoreSetting, AQuarantinePrefixInsideTheLivePrefixIsRefused) {
  std::string error;
  // Boot scans the live prefix: quarantined keys under it would come back.
  EXPECT_EQ(make_snapshot_store("redis://127.0.0.1", "partyd:room:", error, "partyd:room:q:"),
            nullptr);
  EXPECT_NE(error.find("--store-quarantine-prefix"), std::string::npos) << error;
  EXPECT_NE(make_snapshot_store("redis://127.0.0.1", "partyd:room:", error, "partyd:q:"), nullptr);
}

TEST(StoreSetting, MalformedSettingsAreRejectedClearly) {
  const struct {
    const char* setting;
    const char* error_part;
  } cases[] = {
      {"redis://h:0", "port"},
      {"redis://h:65536", "port"},
      {"redis://h:abc", "port"},
      {"redis://h:", "port"},
      {"redis://h:-1", "port"},
      {"redis://h:6379/16", "db"},
      {"redis://h:6379/x", "db"},
      {"redis://h:6379/1/2", "db"},
      {"redis://", "host"},
      {"redis://:topsecret@", "host"},
      {"redis://:topsecret@:6379", "host"},
      {"redis://topsecret@h", "password"},
      {"redis://:@h", "password"},
      {"redis://:top%zzsecret@h", "percent"},
      {"redis://[::1:6379", "["},
      {"file:", "directory"},
      {"rediss://h:6379", "unknown --store"},
      {"mysql://h", "unknown --store"},
      {"", "unknown --store"},
      {"Memory", "unknown --store"},
  };
  for (const auto& c : cases) {
    std::string error;
    EXPECT_EQ(make_snapshot_store(c.setting, prefix, error), nullptr) << c.setting;
    EXPECT_NE(error.find(c.error_part), std::string::npos) << c.setting << " -> " << error;
    EXPECT_EQ(error.find("topsecret"), std::string::npos) << c.setting << " -> " << error;
  }
  std::string error;
  EXPECT_EQ(make_snapshot_store("rediss://:topsecret@h", prefix, error), nullptr);
  EXPECT_EQ(error.find("topsecret"), std::string::npos) << error;
}

}  // namespace
}  // namespace partyd
