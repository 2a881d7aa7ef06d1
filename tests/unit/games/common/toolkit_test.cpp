// The shared game toolkit (games/common): text measures and the strict snapshot readers.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "games/common/json_io.hpp"
#include "games/common/text.hpp"

namespace partyd {
namespace {

namespace json = boost::json;

TEST(GameText, LengthsAndTrim) {
  EXPECT_EQ(utf8_length("h\xC3\xA9"), 2u);
  EXPECT_EQ(utf16_length("h\xC3\xA9"), 2u);
  EXPECT_EQ(utf16_length("\xF0\x9F\x98\x80"), 2u) << "an emoji is a surrogate pair";
  EXPECT_EQ(utf8_length("\xF0\x9F\x98\x80"), 1u);
  EXPECT_EQ(trim(" \t a b \n"), "a b");
  EXPECT_EQ(trim(" \t "), "");
}

TEST(SnapshotRead, ReadersAcceptTheirTypeAndThrowOtherwise) {
  using namespace snapshot_read;
  const json::value doc =
      parse_document(R"({"s":"x","n":3,"neg":-1,"b":true,"ids":["a","b"],"h":"sha256:)" +
                     std::string(64, 'a') + R"("})");
  const json::object& root = as_object(doc);
  EXPECT_EQ(as_string(field(root, "s")), "x");
  EXPECT_EQ(as_uint(field(root, "n")), 3u);
  EXPECT_EQ(as_int(field(root, "neg")), -1);
  EXPECT_TRUE(as_bool(field(root, "b")));
  EXPECT_EQ(as_ids(field(root, "ids")), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(as_hash(field(root, "h"), false).size(), 71u);
  EXPECT_THROW(field(root, "missing"), snapshot_malformed);
  EXPECT_THROW(as_uint(field(root, "neg")), snapshot_malformed);
  EXPECT_THROW(as_string(field(root, "n")), snapshot_malformed);
  EXPECT_THROW(as_hash(field(root, "s"), false), snapshot_malformed);
  EXPECT_THROW(as_id(json::value("")), snapshot_malformed);
  EXPECT_THROW(parse_document("[1]"), snapshot_malformed);
  EXPECT_THROW(parse_document("{"), snapshot_malformed);
  EXPECT_THROW(parse_document(R"({"a":[[[1]]]})", 2), snapshot_malformed);
}

TEST(SnapshotRead, RestoreGuardedTurnsAnyThrowIntoNull) {
  EXPECT_EQ(
      restore_guarded([]() -> std::unique_ptr<int> { throw snapshot_read::snapshot_malformed{}; }),
      nullptr);
  EXPECT_EQ(restore_guarded([]() -> std::unique_ptr<int> { throw std::bad_alloc{}; }), nullptr);
  auto value = restore_guarded([] { return std::make_unique<int>(7); });
  ASSERT_TRUE(value);
  EXPECT_EQ(*value, 7);
}

}  // namespace
}  // namespace partyd
