#include "io/ws_codec.hpp"

#include <cstring>

#include <openssl/evp.h>
#include <openssl/sha.h>

namespace partyd::ws {

namespace {

constexpr std::string_view kHandshakeGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

bool is_control(std::uint8_t op) { return (op & 0x8) != 0; }

bool known_opcode(std::uint8_t op) {
  return op == 0x0 || op == 0x1 || op == 0x2 || op == 0x8 || op == 0x9 || op == 0xA;
}

// Codes a peer may put in a close frame (RFC 6455 section 7.4).
bool valid_close_code(std::uint16_t code) {
  if (code >= 3000 && code <= 4999) {
    return true;
  }
  return code >= 1000 && code <= 1014 && code != 1004 && code != 1005 && code != 1006;
}

std::size_t write_header(char* out, opcode op, std::size_t payload_size, bool masked) {
  const auto mask_bit = static_cast<unsigned char>(masked ? 0x80 : 0x00);
  out[0] = static_cast<char>(0x80 | static_cast<unsigned char>(op));  // FIN: never fragmented
  if (payload_size < 126) {
    out[1] = static_cast<char>(mask_bit | payload_size);
    return 2;
  }
  if (payload_size <= 0xFFFF) {
    out[1] = static_cast<char>(mask_bit | 126);
    out[2] = static_cast<char>(payload_size >> 8);
    out[3] = static_cast<char>(payload_size & 0xFF);
    return 4;
  }
  out[1] = static_cast<char>(mask_bit | 127);
  for (int i = 0; i < 8; ++i) {
    out[2 + i] =
        static_cast<char>((static_cast<std::uint64_t>(payload_size) >> (56 - 8 * i)) & 0xFF);
  }
  return 10;
}

}  // namespace

std::string accept_key(std::string_view client_key) {
  std::string input(client_key);
  input.append(kHandshakeGuid);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  unsigned char encoded[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
  const int length = EVP_EncodeBlock(encoded, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<const char*>(encoded), static_cast<std::size_t>(length));
}

bool valid_client_key(std::string_view key) {
  if (key.size() != 24 || key.substr(22) != "==") {
    return false;
  }
  unsigned char decoded[18];
  return EVP_DecodeBlock(decoded, reinterpret_cast<const unsigned char*>(key.data()), 24) == 18;
}

std::string client_key(const unsigned char (&nonce)[16]) {
  unsigned char encoded[4 * ((16 + 2) / 3) + 1];
  const int length = EVP_EncodeBlock(encoded, nonce, 16);
  return std::string(reinterpret_cast<const char*>(encoded), static_cast<std::size_t>(length));
}

void append_frame(std::string& out, opcode op, std::string_view payload) {
  char header[10];
  const std::size_t header_size = write_header(header, op, payload.size(), false);
  out.append(header, header_size);
  out.append(payload);
}

void append_frame_header(std::string& out, opcode op, std::size_t payload_size) {
  char header[10];
  out.append(header, write_header(header, op, payload_size, false));
}

void append_masked_frame(std::string& out, opcode op, std::string_view payload,
                         std::uint32_t mask_key) {
  char header[14];
  std::size_t header_size = write_header(header, op, payload.size(), true);
  unsigned char key[4];
  std::memcpy(key, &mask_key, 4);
  std::memcpy(header + header_size, key, 4);
  header_size += 4;
  out.append(header, header_size);
  const std::size_t start = out.size();
  out.append(payload);
  apply_mask(out.data() + start, payload.size(), key);
}

std::string close_payload(std::uint16_t code, std::string_view reason) {
  if (reason.size() > max_close_reason_bytes) {
    std::size_t cut = max_close_reason_bytes;
    while (cut > 0 && (static_cast<unsigned char>(reason[cut]) & 0xC0) == 0x80) {
      --cut;  // never split a multi-byte character
    }
    reason = reason.substr(0, cut);
  }
  std::string payload;
  payload.reserve(2 + reason.size());
  payload.push_back(static_cast<char>(code >> 8));
  payload.push_back(static_cast<char>(code & 0xFF));
  payload.append(reason);
  return payload;
}

void apply_mask(char* data, std::size_t size, const unsigned char key[4], std::size_t offset) {
  unsigned char rotated[4];
  for (std::size_t i = 0; i < 4; ++i) {
    rotated[i] = key[(offset + i) % 4];
  }
  // Eight bytes at a time: the key repeated twice is a 64-bit word.
  std::uint64_t wide;
  unsigned char wide_bytes[8];
  for (std::size_t i = 0; i < 8; ++i) {
    wide_bytes[i] = rotated[i % 4];
  }
  std::memcpy(&wide, wide_bytes, 8);
  std::size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    std::uint64_t chunk;
    std::memcpy(&chunk, data + i, 8);
    chunk ^= wide;
    std::memcpy(data + i, &chunk, 8);
  }
  for (; i < size; ++i) {
    data[i] = static_cast<char>(static_cast<unsigned char>(data[i]) ^ rotated[i % 4]);
  }
}

bool valid_utf8(std::string_view text) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t size = text.size();
  std::size_t i = 0;
  while (i < size) {
    // ASCII runs, eight bytes at a time: the common case for JSON.
    if (i + 8 <= size) {
      std::uint64_t chunk;
      std::memcpy(&chunk, bytes + i, 8);
      if ((chunk & 0x8080808080808080ULL) == 0) {
        i += 8;
        continue;
      }
    }
    const unsigned char lead = bytes[i];
    if (lead < 0x80) {
      ++i;
      continue;
    }
    std::size_t length;
    unsigned char low = 0x80;  // bounds of the second byte (exclude overlongs and surrogates)
    unsigned char high = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) low = 0xA0;
      if (lead == 0xED) high = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) low = 0x90;
      if (lead == 0xF4) high = 0x8F;
    } else {
      return false;
    }
    if (i + length > size) {
      return false;
    }
    if (bytes[i + 1] < low || bytes[i + 1] > high) {
      return false;
    }
    for (std::size_t k = 2; k < length; ++k) {
      if ((bytes[i + k] & 0xC0) != 0x80) {
        return false;
      }
    }
    i += length;
  }
  return true;
}

frame_reader::step frame_reader::next(char* data, std::size_t size, std::size_t& consumed,
                                      reader_event& event) {
  const auto fail = [&](std::uint16_t code, const char* reason) {
    finished_ = true;
    event.what = reader_event::kind::error;
    event.code = code;
    event.error_reason = reason;
    return step::stop;
  };
  if (size < 2) {
    return step::incomplete;
  }
  const auto* bytes = reinterpret_cast<const unsigned char*>(data);
  const bool fin = (bytes[0] & 0x80) != 0;
  const std::uint8_t op = bytes[0] & 0x0F;
  const bool masked = (bytes[1] & 0x80) != 0;
  std::uint64_t length = bytes[1] & 0x7F;
  if ((bytes[0] & 0x70) != 0) {
    return fail(close_protocol_error, "reserved_bits_set");
  }
  if (!known_opcode(op)) {
    return fail(close_protocol_error, "unknown_opcode");
  }
  if (masked != expect_masked_) {
    return fail(close_protocol_error, masked ? "masked_frame" : "unmasked_frame");
  }
  if (is_control(op) && (!fin || length > 125)) {
    return fail(close_protocol_error, "bad_control_frame");
  }
  std::size_t header_size = 2;
  if (length == 126) {
    if (size < 4) return step::incomplete;
    length = (static_cast<std::uint64_t>(bytes[2]) << 8) | bytes[3];
    header_size = 4;
    if (length < 126) return fail(close_protocol_error, "length_not_minimal");
  } else if (length == 127) {
    if (size < 10) return step::incomplete;
    length = 0;
    for (int i = 0; i < 8; ++i) {
      length = (length << 8) | bytes[2 + i];
    }
    header_size = 10;
    if (length >> 63) return fail(close_protocol_error, "length_too_large");
    if (length <= 0xFFFF) return fail(close_protocol_error, "length_not_minimal");
  }
  // Refuse an oversized message from its header: its payload is never buffered.
  if (!is_control(op)) {
    const std::uint64_t so_far = op == 0x0 ? fragments_.size() : 0;
    if (length > max_message_bytes_ || so_far + length > max_message_bytes_) {
      return fail(close_too_big, "message_too_big");
    }
  }
  const unsigned char* key = nullptr;
  if (masked) {
    if (size < header_size + 4) return step::incomplete;
    key = bytes + header_size;
    header_size += 4;
  }
  if (size - header_size < length) {
    return step::incomplete;
  }
  char* payload = data + header_size;
  const auto payload_size = static_cast<std::size_t>(length);
  if (key) {
    apply_mask(payload, payload_size, key);
  }
  consumed = header_size + payload_size;
  const std::string_view body(payload, payload_size);

  switch (static_cast<opcode>(op)) {
    case opcode::ping:
      event.what = reader_event::kind::ping;
      event.payload = body;
      return step::event;
    case opcode::pong:
      event.what = reader_event::kind::pong;
      event.payload = body;
      return step::event;
    case opcode::close: {
      if (body.size() == 1) return fail(close_protocol_error, "bad_close_payload");
      std::uint16_t code = close_no_status;
      if (body.size() >= 2) {
        code = static_cast<std::uint16_t>((static_cast<unsigned char>(body[0]) << 8) |
                                          static_cast<unsigned char>(body[1]));
        if (!valid_close_code(code)) return fail(close_protocol_error, "bad_close_code");
        if (!valid_utf8(body.substr(2))) return fail(close_invalid_payload, "invalid_utf8");
      }
      finished_ = true;
      event.what = reader_event::kind::close;
      event.code = code;
      event.payload = body.size() >= 2 ? body.substr(2) : std::string_view();
      return step::stop;
    }
    case opcode::text:
    case opcode::binary: {
      if (in_message_) return fail(close_protocol_error, "expected_continuation");
      const bool binary = op == 0x2;
      if (!fin) {
        in_message_ = true;
        message_binary_ = binary;
        fragments_.assign(body);
        return step::skip;
      }
      if (!binary && !valid_utf8(body)) return fail(close_invalid_payload, "invalid_utf8");
      event.what = reader_event::kind::message;
      event.binary = binary;
      event.payload = body;  // zero-copy: the common, unfragmented case
      return step::event;
    }
    case opcode::continuation: {
      if (!in_message_) return fail(close_protocol_error, "unexpected_continuation");
      fragments_.append(body);
      if (!fin) return step::skip;
      in_message_ = false;
      if (!message_binary_ && !valid_utf8(fragments_)) {
        return fail(close_invalid_payload, "invalid_utf8");
      }
      event.what = reader_event::kind::message;
      event.binary = message_binary_;
      event.payload = fragments_;
      release_fragments_ = true;
      return step::event;
    }
  }
  return fail(close_protocol_error, "unknown_opcode");
}

void frame_reader::after_event() {
  if (!release_fragments_) {
    return;
  }
  release_fragments_ = false;
  fragments_.clear();
  if (fragments_.capacity() > 4096) {
    fragments_.shrink_to_fit();  // one large message must not pin memory for an idle client
  }
}

}  // namespace partyd::ws
