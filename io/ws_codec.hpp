// WebSocket (RFC 6455) framing without sockets: the upgrade's accept key, frame writers, and a
// frame reader that reassembles messages. partyd frames its own traffic so that every frame queued
// for a connection goes out in one write() (Beast writes one message per call; on loopback a small
// write costs 4-7 us, so that was most of the cost of a delivery; see ARCHITECTURE.md).
// No extensions are negotiated, so RSV bits must be zero.
// Thread: free functions are pure; a frame_reader belongs to one connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace partyd::ws {

enum class opcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

// Close codes the server sends on its own (RFC 6455 section 7.4.1).
inline constexpr std::uint16_t close_normal = 1000;
inline constexpr std::uint16_t close_going_away = 1001;
inline constexpr std::uint16_t close_protocol_error = 1002;
inline constexpr std::uint16_t close_no_status = 1005;  // received without a code; never sent
inline constexpr std::uint16_t close_invalid_payload = 1007;
inline constexpr std::uint16_t close_policy = 1008;
inline constexpr std::uint16_t close_too_big = 1009;

// A close frame carries at most 125 payload bytes: 2 for the code, 123 for the reason.
inline constexpr std::size_t max_close_reason_bytes = 123;

// Sec-WebSocket-Accept for the client's Sec-WebSocket-Key: base64(SHA-1(key + RFC GUID)).
std::string accept_key(std::string_view client_key);

// True when `key` is the base64 of 16 bytes, as RFC 6455 requires of Sec-WebSocket-Key.
bool valid_client_key(std::string_view key);

// A client's Sec-WebSocket-Key: the base64 of a 16-byte nonce.
std::string client_key(const unsigned char (&nonce)[16]);

// Appends one final (unfragmented) frame. Servers send unmasked frames; clients must mask theirs
// with a fresh 32-bit key (append_masked_frame).
void append_frame(std::string& out, opcode op, std::string_view payload);
// The header alone of an unmasked frame whose payload the caller appends in pieces.
void append_frame_header(std::string& out, opcode op, std::size_t payload_size);
void append_masked_frame(std::string& out, opcode op, std::string_view payload,
                         std::uint32_t mask_key);

// The close payload: the code in network order, then `reason` cut to 123 bytes on a UTF-8
// character boundary.
std::string close_payload(std::uint16_t code, std::string_view reason);

// XORs `size` bytes with the 4-byte key, starting `offset` bytes into the key's cycle.
void apply_mask(char* data, std::size_t size, const unsigned char key[4], std::size_t offset = 0);

bool valid_utf8(std::string_view text);

// What one call of frame_reader::parse reports, frame by frame.
struct reader_event {
  enum class kind { message, ping, pong, close, error };
  kind what = kind::message;
  // message: the whole (reassembled) payload; ping/pong: the payload; close: the reason.
  // Valid only during the callback.
  std::string_view payload;
  bool binary = false;     // message: it came as a binary message
  std::uint16_t code = 0;  // close: the peer's code (close_no_status if none); error: code to send
  const char* error_reason = "";  // error: short reason for the close frame and the log
};

class frame_reader {
 public:
  // `expect_masked`: a server reads masked client frames, a client unmasked server frames.
  frame_reader(std::size_t max_message_bytes, bool expect_masked)
      : max_message_bytes_(max_message_bytes), expect_masked_(expect_masked) {}

  // Reads the complete frames at the front of [data, data + size), unmasking them in place, and
  // calls `on_event(const reader_event&)` for each message and control frame; a handler returning
  // false stops the parse. Returns the number of bytes consumed: the rest begins an incomplete
  // frame and must be offered again, followed by more bytes. After a close or an error event the
  // reader consumes nothing more.
  template <class Handler>
  std::size_t parse(char* data, std::size_t size, Handler&& on_event);

  // Socket.IO connections take Engine.IO packets, a little larger than the game's messages.
  void set_max_message_bytes(std::size_t bytes) noexcept { max_message_bytes_ = bytes; }
  // Bytes held for a fragmented message in progress.
  std::size_t buffered_bytes() const noexcept { return fragments_.size(); }
  // A fragmented message has begun and its final fragment has not arrived yet.
  bool in_message() const noexcept { return in_message_; }
  bool finished() const noexcept { return finished_; }

 private:
  enum class step { incomplete, event, skip, stop };
  // Reads one frame at `data`; fills `event` when it completes something to report.
  step next(char* data, std::size_t size, std::size_t& consumed, reader_event& event);
  void after_event();

  std::size_t max_message_bytes_;
  bool expect_masked_;
  bool in_message_ = false;  // a fragmented message has begun
  bool message_binary_ = false;
  bool release_fragments_ = false;  // the event handed out fragments_: clear it after the call
  bool finished_ = false;
  std::string fragments_;
};

template <class Handler>
std::size_t frame_reader::parse(char* data, std::size_t size, Handler&& on_event) {
  std::size_t offset = 0;
  while (!finished_ && offset < size) {
    std::size_t consumed = 0;
    reader_event event;
    const step result = next(data + offset, size - offset, consumed, event);
    if (result == step::incomplete) {
      break;
    }
    offset += consumed;
    if (result == step::skip) {
      continue;
    }
    const bool keep_going = on_event(static_cast<const reader_event&>(event));
    after_event();
    if (!keep_going || result == step::stop) {
      break;
    }
  }
  return offset;
}

}  // namespace partyd::ws
