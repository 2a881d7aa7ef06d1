// libFuzzer target: the Socket.IO codec (io/socketio_codec) on arbitrary text, as a client's
// packet (parse, then the event mapped for both game shapes) and as a game's frame (mapped to an
// event, with and without session members). Invariants: no crash or sanitizer report; a mapped
// message is an object text that starts with the type member; an event is a `42[` packet.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "io/socketio_codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace partyd;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const sio::packet packet = sio::parse_packet(text);
  for (const auto game_shape : {socketio_shape::flat, socketio_shape::payload}) {
    std::string message;
    std::string type;
    sio::event_error error;
    if (sio::event_to_message(packet.data, game_shape, message, type, error)) {
      if (!message.starts_with("{\"type\":\"") || message.back() != '}') __builtin_trap();
    } else if (error.code.empty()) {
      __builtin_trap();
    }
    std::string out;
    if (sio::append_event(out, text, game_shape, "\"sequenceId\":1", "1")) {
      if (!out.starts_with("42[") || out.back() != ']') __builtin_trap();
    } else if (!out.empty()) {
      __builtin_trap();
    }
  }
  (void)sio::array_elements(text);
  (void)sio::string_member(text, "pid");
  return 0;
}
