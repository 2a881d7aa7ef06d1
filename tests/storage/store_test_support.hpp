// What the embedded-store tests share: a private temp directory (`dir_` does not exist yet, the
// store creates it), an injected expiry clock, and a load of everything a store holds.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "storage/snapshot_store.hpp"

namespace partyd::testing {

class store_dir_test : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ =
        (std::filesystem::temp_directory_path() / "partyd-store-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    root_ = templ;
    dir_ = (root_ / "snapshots").string();
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }

  // Every live (or, `quarantined`, every quarantined) snapshot: key -> value; each key once.
  static std::map<std::string, std::string> load(snapshot_store& store, bool quarantined = false) {
    std::map<std::string, std::string> out;
    const auto visit = [&](std::string_view key, std::string_view value) {
      EXPECT_TRUE(out.emplace(std::string(key), std::string(value)).second) << "visited twice";
    };
    const store_result r = quarantined ? store.load_quarantined(visit) : store.load_all(visit);
    EXPECT_TRUE(r.ok) << r.error;
    return out;
  }

  std::filesystem::path root_;
  std::string dir_;
  std::int64_t now_s_ = 1'700'000'000;
};

}  // namespace partyd::testing
