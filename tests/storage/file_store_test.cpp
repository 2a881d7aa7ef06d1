// The file store on a private temp directory, with an injected clock for expiry.
#include "storage/file_store.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "storage/store_test_support.hpp"

namespace partyd {
namespace {

namespace fs = std::filesystem;

class FileStore : public testing::store_dir_test {
 protected:
  file_store make_store() {
    return file_store(dir_, [this] { return now_s_; });
  }
};

TEST_F(FileStore, RoundTripCreatesPrivateDirectory) {
  file_store store = make_store();
  EXPECT_EQ(store.describe(), "file:" + dir_);
  ASSERT_TRUE(store.write({{"ABCD", "alpha", 0}, {"room_2", "beta", 60}}).ok);

  struct stat st {};
  ASSERT_EQ(::stat(dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_TRUE(fs::exists(fs::path(dir_) / "ABCD.snap"));

  const auto loaded = load(store);
  EXPECT_EQ(loaded, (std::map<std::string, std::string>{{"ABCD", "alpha"}, {"room_2", "beta"}}));

  file_store reopened = make_store();  // what a restart sees
  EXPECT_EQ(load(reopened).size(), 2u);
}

TEST_F(FileStore, BinaryValuesWithNulBytes) {
  file_store store = make_store();
  std::string value("\0\x01\xff\nsnap\0", 10);
  std::string big(100'000, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) {
    big[i] = static_cast<char>(i * 31);
  }
  ASSERT_TRUE(store.write({{"bin", value, 0}, {"big", big, 0}, {"empty", "", 0}}).ok);
  const auto loaded = load(store);
  ASSERT_EQ(loaded.size(), 3u);
  EXPECT_EQ(loaded.at("bin"), value);
  EXPECT_EQ(loaded.at("big"), big);
  EXPECT_EQ(loaded.at("empty"), "");
}

TEST_F(FileStore, OverwriteKeepsNewest) {
  file_store store = make_store();
  ASSERT_TRUE(store.write({{"K1", "v1", 0}}).ok);
  ASSERT_TRUE(store.write({{"K1", "v2-longer", 0}}).ok);
  ASSERT_TRUE(store.write({{"K2", "a", 0}, {"K2", "b", 0}}).ok);  // last in a batch wins
  const auto loaded = load(store);
  EXPECT_EQ(loaded.at("K1"), "v2-longer");
  EXPECT_EQ(loaded.at("K2"), "b");
}

TEST_F(FileStore, ExpiredSnapshotsAreSkippedAndDeleted) {
  file_store store = make_store();
  ASSERT_TRUE(store.write({{"short", "s", 10}, {"long", "l", 1000}, {"forever", "f", 0}}).ok);

  now_s_ += 9;
  EXPECT_EQ(load(store).size(), 3u);

  now_s_ += 1;  // exactly at expiry: gone, like Redis
  const auto loaded = load(store);
  EXPECT_EQ(loaded.count("short"), 0u);
  EXPECT_EQ(loaded.size(), 2u);
  EXPECT_FALSE(fs::exists(fs::path(dir_) / "short.snap"));

  now_s_ += 1'000'000;
  EXPECT_EQ(load(store), (std::map<std::string, std::string>{{"forever", "f"}}));
}

TEST_F(FileStore, RemoveDeletesAndIgnoresMissing) {
  file_store store = make_store();
  ASSERT_TRUE(store.write({{"a", "1", 0}, {"b", "2", 0}}).ok);
  const store_result r = store.remove({"a", "never-written", "../escape"});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(load(store), (std::map<std::string, std::string>{{"b", "2"}}));
  EXPECT_TRUE(store.remove({}).ok);
}

TEST_F(FileStore, QuarantineMovesFilesAsideWithTheirExpiry) {
  file_store store = make_store();
  ASSERT_TRUE(store.write({{"bad", "b", 10}, {"good", "g", 0}}).ok);
  const store_result r = store.quarantine({"bad", "never-written", "../escape"});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(load(store), (std::map<std::string, std::string>{{"good", "g"}}));
  EXPECT_TRUE(fs::exists(fs::path(dir_) / "bad.quarantine"));
  const auto quarantined = [&] {
    std::map<std::string, std::string> kept;
    EXPECT_TRUE(store
                    .load_quarantined([&](std::string_view key, std::string_view value) {
                      kept.emplace(std::string(key), std::string(value));
                    })
                    .ok);
    return kept;
  };
  EXPECT_EQ(quarantined(), (std::map<std::string, std::string>{{"bad", "b"}}));
  now_s_ += 10;  // it expires when the room's snapshot would have
  EXPECT_TRUE(quarantined().empty());
  EXPECT_FALSE(fs::exists(fs::path(dir_) / "bad.quarantine"));
}

TEST_F(FileStore, InvalidKeysRejectTheWholeBatch) {
  file_store store = make_store();
  for (const std::string& bad :
       {std::string(), std::string("../etc"), std::string("a/b"), std::string(".hidden"),
        std::string("sp ace"), std::string("nul\0", 4), std::string(65, 'x'), std::string("ünï")}) {
    const store_result r = store.write({{"good", "g", 0}, {bad, "v", 0}});
    EXPECT_FALSE(r.ok) << "key accepted: " << bad;
    EXPECT_NE(r.error.find("invalid key"), std::string::npos);
  }
  EXPECT_TRUE(load(store).empty()) << "nothing of a rejected batch is written";
  EXPECT_FALSE(fs::exists(root_ / "etc.snap"));
  EXPECT_TRUE(store.write({{std::string(64, 'x'), "max", 0}, {"A-z_0-9", "ok", 0}}).ok);
  EXPECT_EQ(load(store).size(), 2u);
}

TEST_F(FileStore, TempAndForeignFilesAreIgnoredAndTempFilesCleaned) {
  file_store store = make_store();
  ASSERT_TRUE(store.write({{"real", "r", 0}}).ok);
  const fs::path d(dir_);
  std::ofstream(d / ".real.tmp.123.1") << "partyd-snapshot 1 0\nhalf-written";
  std::ofstream(d / "notes.txt") << "not a snapshot";
  std::ofstream(d / "bad key.snap") << "partyd-snapshot 1 0\nx";
  std::string marker_lost;
  ASSERT_TRUE(store.check_intact(marker_lost).ok);  // .partyd-marker is no snapshot either
  std::vector<std::string> skipped;
  store.set_skip_observer(
      [&](std::string_view key, std::string_view) { skipped.emplace_back(key); });

  EXPECT_EQ(load(store), (std::map<std::string, std::string>{{"real", "r"}}));
  EXPECT_FALSE(fs::exists(d / ".real.tmp.123.1"));
  EXPECT_TRUE(fs::exists(d / "notes.txt"));
  // A .snap whose name no write makes is not restored: reported, not silently ignored.
  EXPECT_EQ(store.last_load_skipped(), 1u);
  EXPECT_EQ(skipped, (std::vector<std::string>{"bad key.snap"}));

  // No temp file survives a successful write.
  ASSERT_TRUE(store.write({{"x", "1", 0}, {"y", "2", 5}}).ok);
  for (const auto& entry : fs::directory_iterator(d)) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos);
  }
}

TEST_F(FileStore, MalformedHeadersAreSkippedAndCounted) {
  file_store store = make_store();
  ASSERT_TRUE(store.write({{"good", "g", 0}}).ok);
  const fs::path d(dir_);
  std::ofstream(d / "nohdr.snap") << "just bytes";
  std::ofstream(d / "badnum.snap") << "partyd-snapshot 1 12x\nvalue";
  std::ofstream(d / "version2.snap") << "partyd-snapshot 2 0\nvalue";
  std::ofstream(d / "empty.snap");
  EXPECT_EQ(load(store), (std::map<std::string, std::string>{{"good", "g"}}));
  EXPECT_EQ(store.last_load_skipped(), 4u);
}

// A directory, a symbolic link, an empty file and a FIFO under snapshot names: none is read, none
// blocks the load, and each is reported to the skip observer with why.
TEST_F(FileStore, UnreadableSnapshotFilesAreReportedWithTheirReason) {
  file_store store = make_store();
  ASSERT_TRUE(store.write({{"good", "g", 0}, {"target", "t", 0}}).ok);
  const fs::path d(dir_);
  fs::create_directory(d / "ADIR.snap");
  fs::create_symlink(d / "target.snap", d / "ALINK.snap");
  std::ofstream(d / "AEMPTY.snap");
  ASSERT_EQ(::mkfifo((d / "AFIFO.snap").c_str(), 0600), 0);
  std::ofstream(d / "AHEADER.snap") << "no header line";
  std::map<std::string, std::string> skipped;
  store.set_skip_observer([&](std::string_view key, std::string_view reason) {
    EXPECT_TRUE(skipped.emplace(std::string(key), std::string(reason)).second) << key;
  });

  EXPECT_EQ(load(store), (std::map<std::string, std::string>{{"good", "g"}, {"target", "t"}}));
  EXPECT_EQ(store.last_load_skipped(), 5u);
  ASSERT_EQ(skipped.size(), 5u);
  EXPECT_NE(skipped["ADIR"].find("a directory"), std::string::npos) << skipped["ADIR"];
  EXPECT_NE(skipped["ALINK"].find("symbolic link"), std::string::npos) << skipped["ALINK"];
  EXPECT_NE(skipped["AEMPTY"].find("empty"), std::string::npos) << skipped["AEMPTY"];
  EXPECT_NE(skipped["AFIFO"].find("not a regular file"), std::string::npos) << skipped["AFIFO"];
  EXPECT_NE(skipped["AHEADER"].find("header"), std::string::npos) << skipped["AHEADER"];

  store.set_skip_observer({});  // unset: still counted
  EXPECT_EQ(load(store).size(), 2u);
  EXPECT_EQ(store.last_load_skipped(), 5u);
}

TEST_F(FileStore, CheckIntactDetectsAnEmptiedDeletedOrReplacedDirectory) {
  file_store store = make_store();
  std::string lost;
  ASSERT_TRUE(store.check_intact(lost).ok);  // the first call writes the marker
  EXPECT_EQ(lost, "");
  EXPECT_TRUE(fs::exists(fs::path(dir_) / ".partyd-marker"));
  ASSERT_TRUE(store.write({{"A", "a", 0}}).ok);
  ASSERT_TRUE(store.check_intact(lost).ok);
  EXPECT_EQ(lost, "") << "nothing happened";

  // Emptied: the files go, the directory stays.
  for (const auto& entry : fs::directory_iterator(dir_)) fs::remove(entry.path());
  ASSERT_TRUE(store.check_intact(lost).ok);
  EXPECT_NE(lost.find("marker"), std::string::npos) << lost;
  ASSERT_TRUE(store.check_intact(lost).ok);
  EXPECT_EQ(lost, "") << "the marker was written again: reported once";

  // Deleted.
  fs::remove_all(dir_);
  ASSERT_TRUE(store.check_intact(lost).ok);
  EXPECT_NE(lost.find("deleted"), std::string::npos) << lost;
  EXPECT_TRUE(fs::exists(fs::path(dir_) / ".partyd-marker"));

  // Deleted, then recreated by a write before the next check (the file system may give the new
  // directory the old inode number: then the missing marker tells).
  fs::remove_all(dir_);
  ASSERT_TRUE(store.write({{"B", "b", 0}}).ok);
  ASSERT_TRUE(store.check_intact(lost).ok);
  EXPECT_FALSE(lost.empty());

  // Replaced by a copy that still holds the marker (restored from an older backup).
  ASSERT_TRUE(store.check_intact(lost).ok);
  ASSERT_EQ(lost, "");
  const std::string copy = (root_ / "copy").string();
  fs::copy(dir_, copy);
  fs::remove_all(dir_);
  fs::rename(copy, dir_);
  ASSERT_TRUE(store.check_intact(lost).ok);
  EXPECT_NE(lost.find("replaced"), std::string::npos) << lost;

  // A new store on an existing directory starts from what it finds.
  file_store fresh = make_store();
  ASSERT_TRUE(fresh.check_intact(lost).ok);
  EXPECT_EQ(lost, "");
}

TEST_F(FileStore, ThousandKeysInOneBatch) {
  file_store store = make_store();
  std::vector<snapshot_record> batch;
  for (int i = 0; i < 1000; ++i) {
    batch.push_back({"room" + std::to_string(i), std::string(200, static_cast<char>('a' + i % 26)),
                     i % 2 == 0 ? 0 : 3600});
  }
  const store_result r = store.write(batch);
  ASSERT_TRUE(r.ok) << r.error;
  const auto loaded = load(store);
  ASSERT_EQ(loaded.size(), 1000u);
  for (const auto& rec : batch) {
    EXPECT_EQ(loaded.at(rec.key), rec.value);
  }
}

TEST_F(FileStore, PingChecksWritableDirectory) {
  file_store store = make_store();
  EXPECT_TRUE(store.ping().ok);  // creates it
  EXPECT_TRUE(fs::is_directory(dir_));

  const std::string file_path = (root_ / "a-file").string();
  std::ofstream(file_path) << "x";
  file_store on_file(file_path);
  EXPECT_FALSE(on_file.ping().ok);
  EXPECT_FALSE(on_file.write({{"k", "v", 0}}).ok);
  EXPECT_FALSE(on_file.load_all([](std::string_view, std::string_view) {}).ok);
}

TEST_F(FileStore, EmptyDirectoryLoadsNothing) {
  file_store store = make_store();
  EXPECT_TRUE(load(store).empty());
  EXPECT_TRUE(store.write({}).ok);
}

}  // namespace
}  // namespace partyd
