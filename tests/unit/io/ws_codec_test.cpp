#include "io/ws_codec.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace partyd::ws {
namespace {

struct seen {
  reader_event::kind what;
  std::string payload;
  std::uint16_t code;
  bool binary;
};

// Feeds `bytes` to `reader` in pieces of `step` bytes, keeping unconsumed bytes as a connection
// does, and records every event.
std::vector<seen> read_all(frame_reader& reader, const std::string& bytes, std::size_t step) {
  std::vector<seen> events;
  std::string pending;
  for (std::size_t at = 0; at < bytes.size(); at += step) {
    pending.append(bytes, at, step);
    const std::size_t used =
        reader.parse(pending.data(), pending.size(), [&](const reader_event& event) {
          events.push_back({event.what, std::string(event.payload), event.code, event.binary});
          return true;
        });
    pending.erase(0, used);
  }
  return events;
}

std::string masked(opcode op, std::string_view payload, bool fin = true) {
  std::string out;
  append_masked_frame(out, op, payload, 0x9A3C5E11u);
  if (!fin) {
    out[0] = static_cast<char>(out[0] & 0x7F);
  }
  return out;
}

TEST(ws_codec, client_key_is_the_base64_of_the_nonce) {
  const unsigned char rfc_nonce[16] = {'t', 'h', 'e', ' ', 's', 'a', 'm', 'p',
                                       'l', 'e', ' ', 'n', 'o', 'n', 'c', 'e'};
  EXPECT_EQ(client_key(rfc_nonce), "dGhlIHNhbXBsZSBub25jZQ==");
  const unsigned char zeros[16] = {};
  EXPECT_TRUE(valid_client_key(client_key(zeros)));
}

TEST(ws_codec, accept_key_matches_the_rfc_example) {
  EXPECT_EQ(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(ws_codec, client_key_must_be_base64_of_16_bytes) {
  EXPECT_TRUE(valid_client_key("dGhlIHNhbXBsZSBub25jZQ=="));
  EXPECT_FALSE(valid_client_key(""));
  EXPECT_FALSE(valid_client_key("dGhlIHNhbXBsZSBub25jZQ="));   // 23 chars
  EXPECT_FALSE(valid_client_key("dGhlIHNhbXBsZSBub25jZQAA"));  // 18 bytes
  EXPECT_FALSE(valid_client_key("dGhlIHNhbXBsZSBub25j!Q=="));  // not base64
}

TEST(ws_codec, server_frames_use_the_shortest_length_encoding) {
  for (const std::size_t size : {0u, 125u, 126u, 65535u, 65536u}) {
    std::string out;
    append_frame(out, opcode::text, std::string(size, 'a'));
    const std::size_t header = size < 126 ? 2 : size <= 65535 ? 4 : 10;
    ASSERT_EQ(out.size(), header + size) << size;
    EXPECT_EQ(static_cast<unsigned char>(out[0]), 0x81);      // FIN + text
    EXPECT_EQ(static_cast<unsigned char>(out[1]) & 0x80, 0);  // servers never mask

    frame_reader client(1 << 20, /*expect_masked=*/false);
    const auto events = read_all(client, out, out.size());
    ASSERT_EQ(events.size(), 1u) << size;
    EXPECT_EQ(events[0].what, reader_event::kind::message);
    EXPECT_EQ(events[0].payload.size(), size);
  }
}

TEST(ws_codec, masked_messages_survive_any_split) {
  const std::string big(70000, 'z');
  const std::string stream = masked(opcode::text, "{\"type\":\"ping\"}") +
                             masked(opcode::binary, std::string("\x00\x01\xff", 3)) +
                             masked(opcode::text, big) + masked(opcode::text, "");
  for (const std::size_t step : {1u, 2u, 3u, 7u, 13u, 1000u, 1u << 20}) {
    frame_reader server(1 << 20, /*expect_masked=*/true);
    const auto events = read_all(server, stream, step);
    ASSERT_EQ(events.size(), 4u) << step;
    EXPECT_EQ(events[0].payload, "{\"type\":\"ping\"}");
    EXPECT_FALSE(events[0].binary);
    EXPECT_EQ(events[1].payload, std::string("\x00\x01\xff", 3));
    EXPECT_TRUE(events[1].binary);
    EXPECT_EQ(events[2].payload, big);
    EXPECT_EQ(events[3].payload, "");
  }
}

TEST(ws_codec, fragments_are_reassembled_around_control_frames) {
  const std::string stream = masked(opcode::text, "{\"a\":", false) + masked(opcode::ping, "p1") +
                             masked(opcode::continuation, "1", false) +
                             masked(opcode::continuation, "}");
  frame_reader server(1024, true);
  const auto events = read_all(server, stream, 5);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].what, reader_event::kind::ping);
  EXPECT_EQ(events[0].payload, "p1");
  EXPECT_EQ(events[1].what, reader_event::kind::message);
  EXPECT_EQ(events[1].payload, "{\"a\":1}");
  EXPECT_EQ(server.buffered_bytes(), 0u);
}

TEST(ws_codec, an_oversized_message_fails_from_its_header) {
  frame_reader server(100, true);
  std::string header = masked(opcode::text, std::string(101, 'x')).substr(0, 8);
  const auto events = read_all(server, header, header.size());  // payload never sent
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].what, reader_event::kind::error);
  EXPECT_EQ(events[0].code, close_too_big);
  EXPECT_TRUE(server.finished());
}

TEST(ws_codec, an_oversized_fragmented_message_fails) {
  frame_reader server(100, true);
  const std::string stream = masked(opcode::text, std::string(60, 'x'), false) +
                             masked(opcode::continuation, std::string(60, 'x'));
  const auto events = read_all(server, stream, stream.size());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].code, close_too_big);
}

struct protocol_case {
  const char* name;
  std::string bytes;
  std::uint16_t code;
};

TEST(ws_codec, protocol_violations_fail_with_the_rfc_code) {
  std::string unmasked;
  append_frame(unmasked, opcode::text, "hi");
  std::string reserved = masked(opcode::text, "hi");
  reserved[0] = static_cast<char>(reserved[0] | 0x40);
  std::string unknown = masked(opcode::text, "hi");
  unknown[0] = static_cast<char>((unknown[0] & 0xF0) | 0x3);
  std::string long_ping = masked(opcode::ping, std::string(126, 'p'));
  std::string fragmented_ping = masked(opcode::ping, "p", false);
  std::string not_minimal = "\x81\xFE";  // 16-bit length 5: must have used the 7-bit form
  not_minimal += std::string("\x00\x05", 2) + "abcd" + "hello";
  const std::vector<protocol_case> cases = {
      {"unmasked client frame", unmasked, close_protocol_error},
      {"reserved bit", reserved, close_protocol_error},
      {"unknown opcode", unknown, close_protocol_error},
      {"control frame over 125 bytes", long_ping, close_protocol_error},
      {"fragmented control frame", fragmented_ping, close_protocol_error},
      {"continuation without a start", masked(opcode::continuation, "x"), close_protocol_error},
      {"new message inside a fragmented one",
       masked(opcode::text, "a", false) + masked(opcode::text, "b"), close_protocol_error},
      {"length not minimal", not_minimal, close_protocol_error},
      {"invalid UTF-8 text", masked(opcode::text, "\xC3\x28"), close_invalid_payload},
      {"invalid UTF-8 across fragments",
       masked(opcode::text, "ok\xE2\x82", false) + masked(opcode::continuation, "\x28"),
       close_invalid_payload},
      {"close with a one-byte payload", masked(opcode::close, "x"), close_protocol_error},
      {"close with a reserved code", masked(opcode::close, close_payload(1005, "")),
       close_protocol_error},
  };
  for (const auto& c : cases) {
    frame_reader server(1024, true);
    const auto events = read_all(server, c.bytes + masked(opcode::text, "after"), 1);
    ASSERT_EQ(events.size(), 1u) << c.name;
    EXPECT_EQ(events[0].what, reader_event::kind::error) << c.name;
    EXPECT_EQ(events[0].code, c.code) << c.name;
    EXPECT_TRUE(server.finished()) << c.name;
  }
}

TEST(ws_codec, close_frames_report_code_and_reason_and_end_the_stream) {
  frame_reader server(1024, true);
  const std::string stream =
      masked(opcode::close, close_payload(4000, "bye")) + masked(opcode::text, "ignored");
  const auto events = read_all(server, stream, stream.size());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].what, reader_event::kind::close);
  EXPECT_EQ(events[0].code, 4000);
  EXPECT_EQ(events[0].payload, "bye");

  frame_reader empty_close(1024, true);
  const auto bare = read_all(empty_close, masked(opcode::close, ""), 100);
  ASSERT_EQ(bare.size(), 1u);
  EXPECT_EQ(bare[0].code, close_no_status);
}

TEST(ws_codec, close_reason_is_cut_on_a_character_boundary) {
  std::string reason(122, 'r');
  reason += "\xC3\xA9";  // a two-byte character straddling byte 123
  const std::string payload = close_payload(1000, reason);
  EXPECT_EQ(payload.size(), 2u + 122u);
  EXPECT_TRUE(valid_utf8(payload.substr(2)));
  EXPECT_EQ(close_payload(1000, "short").size(), 7u);
}

TEST(ws_codec, utf8_validation) {
  EXPECT_TRUE(valid_utf8(""));
  EXPECT_TRUE(valid_utf8("plain ascii, long enough for the 8-byte path"));
  EXPECT_TRUE(valid_utf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_FALSE(valid_utf8("\xC0\xAF"));          // overlong
  EXPECT_FALSE(valid_utf8("\xE0\x80\xAF"));      // overlong
  EXPECT_FALSE(valid_utf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(valid_utf8("\xE2\x82"));          // truncated
  EXPECT_FALSE(valid_utf8("abcdefgh\xFF"));      // invalid byte after an ASCII run
}

TEST(ws_codec, masking_round_trips_at_every_offset) {
  const unsigned char key[4] = {1, 2, 3, 4};
  const std::string original = "the quick brown fox jumps over the lazy dog";
  for (std::size_t offset = 0; offset < 4; ++offset) {
    std::string data = original;
    apply_mask(data.data(), data.size(), key, offset);
    EXPECT_NE(data, original);
    apply_mask(data.data(), data.size(), key, offset);
    EXPECT_EQ(data, original);
  }
}

}  // namespace
}  // namespace partyd::ws
