// The streaming writer of snapshots: separators at every depth, every kind of value, and strings
// escaped byte for byte as Boost.JSON's serializer escapes them.
#include "games/common/json_writer.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include <boost/json.hpp>

namespace partyd {
namespace {

namespace json = boost::json;

TEST(JsonWriter, NestedContainersGetTheirSeparators) {
  json_writer w;
  w.begin_object();
  w.member("a", 1).member("b", "two").member("c", true).member("d", false);
  w.key("e").null();
  w.key("f")
      .begin_array()
      .number(std::int64_t{-1})
      .begin_object()
      .end_object()
      .begin_array()
      .end_array()
      .string("x")
      .end_array();
  w.key("g").begin_object().member("h", std::uint64_t{18446744073709551615u}).end_object();
  w.key("i").raw(R"({"kept":[1.50,1e2]})");
  w.member("j", std::numeric_limits<std::int64_t>::min());
  w.end_object();
  EXPECT_EQ(w.take(),
            R"({"a":1,"b":"two","c":true,"d":false,"e":null,"f":[-1,{},[],"x"],)"
            R"("g":{"h":18446744073709551615},"i":{"kept":[1.50,1e2]},"j":-9223372036854775808})");
}

TEST(JsonWriter, StringsAreEscapedAsBoostJsonEscapesThem) {
  std::string every_ascii;
  for (int c = 0; c < 0x80; ++c) {
    every_ascii.push_back(static_cast<char>(c));
  }
  for (const std::string& text :
       {every_ascii, std::string("plain"), std::string(""), std::string("é, 日本, 🎉"),
        std::string("\"quoted\" \\ back\\slash\n")}) {
    std::string ours;
    append_json_string(ours, text);
    EXPECT_EQ(ours, json::serialize(json::string_view(text))) << text;
    EXPECT_EQ(json::parse(ours).as_string(), text);
  }
}

}  // namespace
}  // namespace partyd
