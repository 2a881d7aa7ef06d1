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

namespace partyd {
namespace {

TEST(RawMember, CutsTheValueOutAsWritten) {
  const std::string text =
      R"({"type":"set_game_state", "state" : {"big":123456789012345678901234567890,"f":0.1,)"
      R"("s":"a}\"b","n":[1,{"x":2}]} ,"after":1})";
  const auto raw = raw_member(text, "state");
  ASSERT_TRUE(raw);
  EXPECT_EQ(*raw, R"({"big":123456789012345678901234567890,"f":0.1,"s":"a}\"b","n":[1,{"x":2}]})");
  EXPECT_EQ(*raw_member(text, "after"), "1");
  EXPECT_FALSE(raw_member(text, "missing"));
  EXPECT_FALSE(raw_member(R"({"state":1,"state":2})", "state")) << "a duplicate is ambiguous";
  EXPECT_FALSE(raw_member(R"({"st\u0061te":1})", "state")) << "escaped keys are not decoded";
  EXPECT_FALSE(raw_member("[1]", "state"));
  EXPECT_EQ(with_raw_member(R"({"type":"x"})", "s", "{1}"), R"({"type":"x","s":{1}})");
  EXPECT_EQ(with_raw_member("{}", "s", "2"), R"({"s":2})");
}

TEST(RawMember, SplicesSeveralMembersInOrder) {
  EXPECT_EQ(with_raw_members(R"({"type":"x"})", {{"a", "1.10"}, {"b", "[-0]"}, {"c", "true"}}),
            R"({"type":"x","a":1.10,"b":[-0],"c":true})");
  EXPECT_EQ(with_raw_members("{}", {{"a", R"("\u00e9")"}, {"b", "1e2"}}),
            R"({"a":"\u00e9","b":1e2})");
  EXPECT_EQ(with_raw_members(R"({"type":"x"})", {}), R"({"type":"x"})");
  EXPECT_EQ(with_raw_members("{}", {}), "{}");
  // The same bytes as one member at a time.
  EXPECT_EQ(with_raw_members(R"({"k":{"n":1}})", {{"a", "2"}, {"b", "3"}}),
            with_raw_member(with_raw_member(R"({"k":{"n":1}})", "a", "2"), "b", "3"));
}

TEST(SnapshotRead, ClientJsonTextMustBeOneFiniteValue) {
  using namespace snapshot_read;
  for (const char* text : {"123456789012345678901234567890", "1.10", "-0", R"("\ud83d\ude00")",
                           R"( {"a" : [1e2]} )", "null", "[[[]]]"}) {
    EXPECT_NO_THROW(parse_json_text(text, 32)) << text;
    EXPECT_EQ(as_json_text(json::value(text), 32), text);
  }
  EXPECT_TRUE(parse_json_text(R"({"a":1})", 32).is_object());
  for (const char* text :
       {"", " ", "{", "1 2", "[1,]", "1e400", R"({"a":[-1e999]})", "nan", "\"\xff\"", "[[[1]]]"}) {
    EXPECT_THROW(parse_json_text(text, 2), snapshot_malformed) << text;
  }
  EXPECT_NO_THROW(parse_json_text("[[1]]", 2));
  EXPECT_THROW(as_json_text(json::value(1), 32), snapshot_malformed);
  EXPECT_THROW(as_json_text(json::value(nullptr), 32), snapshot_malformed);
}

}  // namespace
}  // namespace partyd

#include "games/common/envelope.hpp"

namespace partyd {
namespace {

constexpr std::string_view envelope_types[] = {"say"};

TEST(Envelope, EveryDoubleReadsBackAsItselfOnceStored) {
  // 9012345678901234567890 is one of the decimals Boost.JSON 1.81 reads a unit in the last place
  // away: unsettled, a room holding it wrote 9.012345678901235E21 and, restored, ...236E21.
  const envelope parsed = parse_envelope(
      R"({"type":"say","a":9012345678901234567890,"b":[1.5,{"c":123456789012345678901234567890}]})",
      envelope_types);
  ASSERT_EQ(parsed.outcome, envelope::status::ok);
  const std::string once = json::serialize(parsed.parsed);
  EXPECT_EQ(json::serialize(json::parse(once)), once);
  EXPECT_EQ(parsed.object().at("b").as_array().at(0).as_double(), 1.5);
}

TEST(Envelope, AnInfiniteNumberIsNotJson) {
  EXPECT_EQ(parse_envelope(R"({"type":"say","x":1e400})", envelope_types).outcome,
            envelope::status::not_an_object);
  EXPECT_EQ(parse_envelope(R"({"type":"say","x":[-1e400]})", envelope_types).outcome,
            envelope::status::not_an_object);
}

}  // namespace
}  // namespace partyd
