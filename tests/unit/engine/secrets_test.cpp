#include "engine/secrets.hpp"

#include <gtest/gtest.h>

#include <array>
#include <map>
#include <set>
#include <string>

namespace partyd {
namespace {

TEST(secrets, room_code_alphabet_has_no_look_alikes) {
  EXPECT_EQ(room_code_alphabet.size(), 31u);
  for (const char c : std::string_view("01OIL")) {
    EXPECT_EQ(room_code_alphabet.find(c), std::string_view::npos) << c;
  }
  const std::set<char> distinct(room_code_alphabet.begin(), room_code_alphabet.end());
  EXPECT_EQ(distinct.size(), room_code_alphabet.size());
}

TEST(secrets, random_code_has_the_length_and_alphabet) {
  EXPECT_EQ(random_code(0), "");
  for (const std::size_t length : {1u, 4u, 6u, 12u, 100u}) {
    const std::string code = random_code(length);
    EXPECT_EQ(code.size(), length);
    EXPECT_EQ(code.find_first_not_of(room_code_alphabet), std::string::npos) << code;
  }
  const std::string custom = random_code(64, "ab");
  EXPECT_EQ(custom.find_first_not_of("ab"), std::string::npos);
}

// Every character of the alphabet equally likely: a chi-square test over 100k characters with a
// bound far in the tail (31 categories, 30 degrees of freedom: p < 1e-6 beyond ~80).
TEST(secrets, random_code_characters_are_uniform) {
  constexpr std::size_t total = 100000;
  std::map<char, std::size_t> counts;
  std::size_t drawn = 0;
  while (drawn < total) {
    const std::string chunk = random_code(1000);
    for (const char c : chunk) ++counts[c];
    drawn += chunk.size();
  }
  ASSERT_EQ(counts.size(), room_code_alphabet.size());  // every character appears
  const double expected = static_cast<double>(total) / room_code_alphabet.size();
  double chi_square = 0;
  for (const auto& [c, n] : counts) {
    const double d = static_cast<double>(n) - expected;
    chi_square += d * d / expected;
  }
  EXPECT_LT(chi_square, 80.0);
  // A modulo bias (256 % 31 = 8 characters drawn 9 times in 256 instead of 8) would put those
  // 12.5% above the rest; each stays within 10% of the mean (5.6 standard deviations).
  for (const auto& [c, n] : counts) {
    EXPECT_NEAR(static_cast<double>(n), expected, expected * 0.10) << c;
  }
}

TEST(secrets, random_codes_do_not_repeat) {
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    EXPECT_TRUE(seen.insert(random_code(12)).second);
  }
}

TEST(secrets, random_token_is_unpadded_base64url) {
  const std::string base64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  // 4 characters per 3 bytes, rounded up, no '=' padding.
  const std::map<std::size_t, std::size_t> lengths{{0, 0}, {1, 2},   {2, 3},   {3, 4},
                                                   {4, 6}, {16, 22}, {32, 43}, {33, 44}};
  for (const auto& [bytes, chars] : lengths) {
    const std::string token = random_token(bytes);
    EXPECT_EQ(token.size(), chars) << bytes << " bytes";
    EXPECT_EQ(token.find_first_not_of(base64url), std::string::npos) << token;
  }
  EXPECT_EQ(random_token().size(), 22u);  // 16 bytes by default
}

TEST(secrets, random_token_uses_the_whole_charset_and_does_not_repeat) {
  std::set<std::string> seen;
  std::set<char> chars;
  for (int i = 0; i < 5000; ++i) {
    const std::string token = random_token(16);
    EXPECT_TRUE(seen.insert(token).second);
    chars.insert(token.begin(), token.end());
  }
  EXPECT_EQ(chars.size(), 64u);
}

TEST(secrets, random_u64_varies) {
  std::set<std::uint64_t> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(random_u64());
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(secrets, secrets_equal_compares_whole_strings) {
  EXPECT_TRUE(secrets_equal("", ""));
  EXPECT_TRUE(secrets_equal("abc", "abc"));
  EXPECT_FALSE(secrets_equal("abc", "abd"));
  EXPECT_FALSE(secrets_equal("abc", "ab"));
  EXPECT_FALSE(secrets_equal("ab", "abc"));
  EXPECT_FALSE(secrets_equal("", "a"));
  EXPECT_FALSE(secrets_equal("xbc", "abc"));
  const std::string with_nul("a\0b", 3);
  EXPECT_TRUE(secrets_equal(with_nul, std::string("a\0b", 3)));
  EXPECT_FALSE(secrets_equal(with_nul, std::string("a\0c", 3)));
}

}  // namespace
}  // namespace partyd
