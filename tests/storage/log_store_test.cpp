// The embedded snapshot log on a private temp directory, with an injected clock for expiry:
// the record codec, group-committed batches, TTLs, removal and quarantine across reopenings, a
// torn tail and a damaged record at open, compaction, the migration of an older data directory,
// and a lost directory.
#include "storage/log_store.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "storage/file_store.hpp"
#include "storage/log_codec.hpp"

#include "storage/store_test_support.hpp"

namespace partyd {
namespace {

namespace fs = std::filesystem;
using snapshot_log::record;
using snapshot_log::record_kind;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void overwrite(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

TEST(SnapshotLogCodec, RecordsRoundTripAndDamageBetweenThemIsSkipped) {
  std::string log(snapshot_log::file_magic);
  snapshot_log::append_record(log, record{record_kind::put, "ABCD", 0, "alpha"});
  const std::size_t first_end = log.size();
  snapshot_log::append_record(log, record{record_kind::put, "EFGH", 1234, "beta"});
  const std::size_t second_end = log.size();
  snapshot_log::append_record(log, record{record_kind::remove, "ABCD", 0, ""});
  EXPECT_EQ(first_end - snapshot_log::file_magic.size(), snapshot_log::encoded_size(4, 5));

  std::vector<std::string> seen;
  const auto collect = [&](const record& r, std::size_t, std::size_t) {
    seen.push_back(std::to_string(static_cast<int>(r.kind)) + ":" + std::string(r.key) + ":" +
                   std::to_string(r.expires_at) + ":" + std::string(r.value));
  };
  snapshot_log::scan_result result = snapshot_log::scan(log, collect);
  EXPECT_EQ(seen, (std::vector<std::string>{"1:ABCD:0:alpha", "1:EFGH:1234:beta", "2:ABCD:0:"}));
  EXPECT_EQ(result.valid_end, log.size());
  EXPECT_EQ(result.corrupt_records, 0u);

  // One flipped byte in the second record's value: it is skipped, the third still read.
  std::string damaged = log;
  damaged[second_end - 1] ^= 0x20;
  seen.clear();
  result = snapshot_log::scan(damaged, collect);
  EXPECT_EQ(seen, (std::vector<std::string>{"1:ABCD:0:alpha", "2:ABCD:0:"}));
  EXPECT_EQ(result.corrupt_records, 1u);
  EXPECT_EQ(result.corrupt_bytes, second_end - first_end);
  EXPECT_EQ(result.valid_end, log.size());

  // Cut inside the last record: a torn tail, not a damaged record.
  seen.clear();
  result = snapshot_log::scan(std::string_view(log).substr(0, log.size() - 3), collect);
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_EQ(result.valid_end, second_end);
  EXPECT_EQ(result.torn_bytes, log.size() - 3 - second_end);
  EXPECT_EQ(result.corrupt_records, 0u);

  // A flipped byte in the last record: damage (the record is whole), cut like a torn tail.
  damaged = log;
  damaged[log.size() - 1] ^= 0x01;
  seen.clear();
  result = snapshot_log::scan(damaged, collect);
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_EQ(result.valid_end, second_end);
  EXPECT_EQ(result.corrupt_records, 1u);
  EXPECT_EQ(result.torn_bytes, 0u);

  // Not a log at all.
  seen.clear();
  result = snapshot_log::scan("partyd-snapshot 1 0\n{}", collect);
  EXPECT_TRUE(seen.empty());
  EXPECT_EQ(result.valid_end, 0u);
}

class LogStore : public testing::store_dir_test {
 protected:
  log_store make_store(log_store_options options = {}) {
    return log_store(
        dir_, [this] { return now_s_; }, options);
  }
  std::string log_path() const { return dir_ + "/snapshots.log"; }
};

TEST_F(LogStore, BatchesSurviveAReopeningAndTheLastRecordOfAKeyWins) {
  log_store store = make_store();
  EXPECT_EQ(store.describe(), "file:" + dir_);
  ASSERT_TRUE(store.write({{"ABCD", "alpha", 0}, {"room_2", "beta", 60}, {"ABCD", "gamma", 0}}).ok);
  ASSERT_TRUE(store.write({{"room_2", "delta", 60}}).ok);

  struct stat st {};
  ASSERT_EQ(::stat(dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat(log_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  log_store reopened = make_store();  // what a restart sees
  EXPECT_EQ(load(reopened),
            (std::map<std::string, std::string>{{"ABCD", "gamma"}, {"room_2", "delta"}}));
  EXPECT_EQ(reopened.stats().live, 2u);
  EXPECT_EQ(reopened.stats().corrupt_records, 0u);
  EXPECT_EQ(reopened.stats().torn_bytes, 0u);
}

TEST_F(LogStore, AnInvalidKeyOrValueRefusesTheWholeBatch) {
  log_store store = make_store();
  EXPECT_FALSE(store.write({{"GOOD", "x", 0}, {"bad/key", "y", 0}}).ok);
  EXPECT_FALSE(store.write({{"GOOD", "x", 0}, {"", "y", 0}}).ok);
  EXPECT_FALSE(store.write({{std::string(65, 'K'), "y", 0}}).ok);
  EXPECT_TRUE(load(store).empty());
}

TEST_F(LogStore, SnapshotsExpireAfterTheirTtl) {
  log_store store = make_store();
  ASSERT_TRUE(store.write({{"SHORT", "a", 10}, {"LONG", "b", 100}, {"NEVER", "c", 0}}).ok);
  now_s_ += 11;
  log_store reopened = make_store();
  EXPECT_EQ(load(reopened), (std::map<std::string, std::string>{{"LONG", "b"}, {"NEVER", "c"}}));
  now_s_ += 100;
  EXPECT_EQ(load(reopened), (std::map<std::string, std::string>{{"NEVER", "c"}}));
  // A rewrite starts the TTL again.
  ASSERT_TRUE(reopened.write({{"LONG", "b2", 100}}).ok);
  now_s_ += 50;
  EXPECT_EQ(load(reopened), (std::map<std::string, std::string>{{"LONG", "b2"}, {"NEVER", "c"}}));
}

TEST_F(LogStore, RemovedRoomsDoNotComeBack) {
  log_store store = make_store();
  ASSERT_TRUE(store.write({{"KEEP", "k", 0}, {"GONE", "g", 0}}).ok);
  ASSERT_TRUE(store.remove({"GONE", "NEVER_WRITTEN", "bad/key"}).ok);
  EXPECT_EQ(load(store), (std::map<std::string, std::string>{{"KEEP", "k"}}));
  log_store reopened = make_store();
  EXPECT_EQ(load(reopened), (std::map<std::string, std::string>{{"KEEP", "k"}}));
  // The code may be used again by a new room.
  ASSERT_TRUE(reopened.write({{"GONE", "again", 0}}).ok);
  log_store third = make_store();
  EXPECT_EQ(load(third), (std::map<std::string, std::string>{{"GONE", "again"}, {"KEEP", "k"}}));
}

TEST_F(LogStore, QuarantinedSnapshotsAreKeptAsideWithTheirExpiry) {
  log_store store = make_store();
  ASSERT_TRUE(store.write({{"FAILED", "last good", 100}, {"HEALTHY", "h", 0}}).ok);
  ASSERT_TRUE(store.quarantine({"FAILED", "MISSING"}).ok);
  EXPECT_EQ(load(store), (std::map<std::string, std::string>{{"HEALTHY", "h"}}));
  EXPECT_EQ(load(store, true), (std::map<std::string, std::string>{{"FAILED", "last good"}}));

  log_store reopened = make_store();
  EXPECT_EQ(load(reopened), (std::map<std::string, std::string>{{"HEALTHY", "h"}}));
  EXPECT_EQ(load(reopened, true), (std::map<std::string, std::string>{{"FAILED", "last good"}}));
  // A new room under the code is live beside the kept one.
  ASSERT_TRUE(reopened.write({{"FAILED", "new room", 0}}).ok);
  EXPECT_EQ(load(reopened),
            (std::map<std::string, std::string>{{"FAILED", "new room"}, {"HEALTHY", "h"}}));
  EXPECT_EQ(load(reopened, true), (std::map<std::string, std::string>{{"FAILED", "last good"}}));
  now_s_ += 101;
  EXPECT_TRUE(load(reopened, true).empty());
}

TEST_F(LogStore, ATornTailIsCutOffAndTheNextBatchFollowsTheGoodRecords) {
  {
    log_store store = make_store();
    ASSERT_TRUE(store.write({{"AAAA", "a", 0}}).ok);
    ASSERT_TRUE(store.write({{"BBBB", "b", 0}}).ok);
    ASSERT_TRUE(store.write({{"CCCC", "a batch a crash cut short", 0}}).ok);
  }
  const std::string full = slurp(log_path());
  overwrite(log_path(), full.substr(0, full.size() - 7));

  log_store reopened = make_store();
  EXPECT_EQ(load(reopened), (std::map<std::string, std::string>{{"AAAA", "a"}, {"BBBB", "b"}}));
  EXPECT_GT(reopened.stats().torn_bytes, 0u);
  EXPECT_EQ(reopened.stats().corrupt_records, 0u);
  ASSERT_TRUE(reopened.write({{"DDDD", "d", 0}}).ok);

  log_store third = make_store();
  EXPECT_EQ(load(third),
            (std::map<std::string, std::string>{{"AAAA", "a"}, {"BBBB", "b"}, {"DDDD", "d"}}));
  EXPECT_EQ(third.stats().torn_bytes, 0u);
}

TEST_F(LogStore, ADamagedRecordIsSkippedCountedAndReportedAndTheRestRestored) {
  {
    log_store store = make_store();
    ASSERT_TRUE(store.write({{"ROOM", "version 1", 0}}).ok);
    ASSERT_TRUE(store.write({{"ROOM", "version 2", 0}, {"OTHER", "o", 0}}).ok);
    ASSERT_TRUE(store.write({{"LATER", "l", 0}}).ok);
  }
  std::string bytes = slurp(log_path());
  const std::size_t at = bytes.find("version 2");
  ASSERT_NE(at, std::string::npos);
  bytes[at + 8] = 'X';
  overwrite(log_path(), bytes);

  log_store reopened = make_store();
  std::vector<std::string> skipped;
  reopened.set_skip_observer([&](std::string_view key, std::string_view why) {
    skipped.push_back(std::string(key) + ": " + std::string(why));
  });
  // The damaged newer version is skipped: the room comes back at its previous snapshot.
  EXPECT_EQ(load(reopened), (std::map<std::string, std::string>{
                                {"LATER", "l"}, {"OTHER", "o"}, {"ROOM", "version 1"}}));
  EXPECT_EQ(reopened.stats().corrupt_records, 1u);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped[0].find("snapshots.log: 1 damaged record(s) skipped"), std::string::npos)
      << skipped[0];
}

TEST_F(LogStore, AFileThatIsNotALogIsRefusedAndLeftAlone) {
  ASSERT_TRUE(fs::create_directories(dir_));
  overwrite(log_path(), "someone else's file");
  log_store store = make_store();
  const store_result r = store.load_all([](std::string_view, std::string_view) { FAIL(); });
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("not a partyd snapshot log"), std::string::npos) << r.error;
  EXPECT_FALSE(store.write({{"ROOM", "x", 0}}).ok);
  EXPECT_EQ(slurp(log_path()), "someone else's file");
}

TEST_F(LogStore, CompactionKeepsWhatIsNeededAndDropsTheRest) {
  log_store_options options;
  options.compact_ratio = 3;
  options.compact_min_bytes = 4096;
  log_store store = make_store(options);
  ASSERT_TRUE(store.write({{"FAILED", "kept aside", 0}, {"GONE", "g", 0}, {"BRIEF", "b", 5}}).ok);
  ASSERT_TRUE(store.quarantine({"FAILED"}).ok);
  ASSERT_TRUE(store.remove({"GONE"}).ok);
  now_s_ += 10;  // BRIEF has expired
  const std::string value(200, 'v');
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(store.write({{"BUSY", value + std::to_string(i), 0}, {"STILL", "s", 0}}).ok);
  }
  EXPECT_GE(store.stats().compactions, 1u);
  EXPECT_LE(store.stats().log_bytes, 4096u * 2);
  EXPECT_FALSE(fs::exists(dir_ + "/snapshots.log.compact"));

  log_store reopened = make_store(options);
  EXPECT_EQ(load(reopened),
            (std::map<std::string, std::string>{{"BUSY", value + "99"}, {"STILL", "s"}}));
  EXPECT_EQ(load(reopened, true), (std::map<std::string, std::string>{{"FAILED", "kept aside"}}));

  // An explicit compaction leaves exactly the needed records.
  ASSERT_TRUE(reopened.compact().ok);
  EXPECT_EQ(reopened.stats().log_bytes,
            snapshot_log::file_magic.size() + snapshot_log::encoded_size(4, value.size() + 2) +
                snapshot_log::encoded_size(5, 1) + snapshot_log::encoded_size(6, 10));
  log_store third = make_store(options);
  EXPECT_EQ(load(third),
            (std::map<std::string, std::string>{{"BUSY", value + "99"}, {"STILL", "s"}}));
  EXPECT_EQ(load(third, true), (std::map<std::string, std::string>{{"FAILED", "kept aside"}}));
}

TEST_F(LogStore, AnOlderDataDirectoryIsReadInOnceAndItsFilesDeleted) {
  {
    file_store older(dir_, [this] { return now_s_; });
    ASSERT_TRUE(older.write({{"OLD1", "one", 0}, {"OLD2", "two", 100}, {"FAILED", "f", 0}}).ok);
    ASSERT_TRUE(older.quarantine({"FAILED"}).ok);
  }
  std::ofstream(dir_ + "/BROKEN.snap") << "no header";
  ASSERT_TRUE(fs::exists(dir_ + "/OLD1.snap"));

  log_store store = make_store();
  std::vector<std::string> skipped;
  store.set_skip_observer(
      [&](std::string_view key, std::string_view) { skipped.emplace_back(key); });
  EXPECT_EQ(load(store), (std::map<std::string, std::string>{{"OLD1", "one"}, {"OLD2", "two"}}));
  EXPECT_EQ(load(store, true), (std::map<std::string, std::string>{{"FAILED", "f"}}));
  EXPECT_EQ(store.stats().migrated_files, 3u);
  EXPECT_EQ(skipped, (std::vector<std::string>{"BROKEN"}));
  EXPECT_FALSE(fs::exists(dir_ + "/OLD1.snap"));
  EXPECT_FALSE(fs::exists(dir_ + "/OLD2.snap"));
  EXPECT_FALSE(fs::exists(dir_ + "/FAILED.quarantine"));

  // From the log now, the expiry kept.
  now_s_ += 101;
  log_store reopened = make_store();
  EXPECT_EQ(load(reopened), (std::map<std::string, std::string>{{"OLD1", "one"}}));
  EXPECT_EQ(load(reopened, true), (std::map<std::string, std::string>{{"FAILED", "f"}}));
  EXPECT_EQ(reopened.stats().migrated_files, 0u);
}

TEST_F(LogStore, ALostDirectoryIsDetectedAndANewLogStarted) {
  log_store store = make_store();
  std::string lost;
  ASSERT_TRUE(store.check_intact(lost).ok);
  EXPECT_TRUE(lost.empty());
  ASSERT_TRUE(store.write({{"BEFORE", "b", 0}}).ok);
  ASSERT_TRUE(store.check_intact(lost).ok);
  EXPECT_TRUE(lost.empty());

  fs::remove_all(dir_);
  ASSERT_TRUE(store.check_intact(lost).ok);
  EXPECT_FALSE(lost.empty());
  ASSERT_TRUE(store.write({{"AFTER", "a", 0}}).ok);
  log_store reopened = make_store();
  EXPECT_EQ(load(reopened), (std::map<std::string, std::string>{{"AFTER", "a"}}));

  // Only the log deleted, the marker left: also a loss.
  ASSERT_TRUE(store.check_intact(lost).ok);
  EXPECT_TRUE(lost.empty());
  fs::remove(log_path());
  ASSERT_TRUE(store.check_intact(lost).ok);
  EXPECT_EQ(lost, "the snapshot log was deleted or replaced");
  ASSERT_TRUE(store.write({{"THIRD", "t", 0}}).ok);
  log_store third = make_store();
  EXPECT_EQ(load(third), (std::map<std::string, std::string>{{"THIRD", "t"}}));
}

}  // namespace
}  // namespace partyd
