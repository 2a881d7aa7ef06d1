// libFuzzer target: the session layer (engine/session*). The first byte picks what the rest is:
//   0: a client message for decode_session_fields (first message or not: bit 7 of byte 0);
//   1: a persisted session table for restore(), which must encode to a fixed point;
//   2: operations on a live table (open, number, detach, resume, ack, upkeep, clock steps) that
//      must keep it consistent and persistable.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/session.hpp"
#include "engine/session_codec.hpp"

namespace {

using namespace partyd;

session_policy fuzz_policy() {
  session_policy policy;
  policy.host_roles = role_bit(0);
  policy.ring_frames = 8;
  policy.ring_bytes = 512;
  policy.answer_window = 3;
  return policy;
}

void check_persists(const session_table& table, const session_policy& policy) {
  const std::string once = table.encode();
  session_table again(policy, "ROOM", "e");
  if (!again.restore(once, 0) || again.encode() != once) __builtin_trap();
}

void drive(std::string_view ops) {
  const session_policy policy = fuzz_policy();
  session_table table(policy, "ROOM", "e");
  time_ms now = 1'000'000;
  std::vector<std::string> ids;
  std::vector<std::string> tokens;
  std::vector<session_action> actions;
  connection_id next_conn = 1;
  for (std::size_t i = 0; i + 1 < ops.size(); i += 2) {
    const auto op = static_cast<unsigned char>(ops[i]);
    const auto arg = static_cast<unsigned char>(ops[i + 1]);
    switch (op % 8) {
      case 0: {  // open
        const connection_id conn = next_conn++;
        table.open(conn, arg % 3, "secret" + std::to_string(conn), "1.0", now);
        ids.push_back(table.find_logical(conn)->id);
        break;
      }
      case 1:  // number a frame for some logical id
        if (session* s = table.find_logical(1 + arg % next_conn)) {
          table.number(*s, make_frame("{\"n\":" + std::to_string(arg) + "}"), arg & 1, now);
        }
        break;
      case 2:  // drop some connection
        table.detach(1 + arg % (next_conn + 2), now);
        break;
      case 3: {  // resume some session on a new connection
        if (ids.empty()) break;
        session_request request;
        request.what = session_request::kind::reconnect;
        request.session_id = ids[arg % ids.size()];
        request.last_seq = arg;
        auto found = table.lookup(request);
        if (found.target) {
          actions.clear();
          table.resume(*found.target, next_conn++, request, session_view{"P", "{}", "c"}, 1, now,
                       actions);
        }
        break;
      }
      case 4:
        if (session* s = table.find_logical(1 + arg % next_conn)) {
          table.ack(*s, "ack_" + std::to_string(arg));
        }
        break;
      case 5:
        actions.clear();
        table.upkeep(now, actions);
        break;
      case 6:
        now += static_cast<time_ms>(arg) * 250;
        break;
      case 7:
        if (session* s = table.find_logical(1 + arg % next_conn)) {
          table.remember(*s, std::to_string(arg), {std::string(arg, 'x')});
        }
        break;
    }
    if (const auto next = table.next_deadline(); next && *next < 0) __builtin_trap();
  }
  check_persists(table, policy);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const session_policy policy = fuzz_policy();
  switch (data[0] % 3) {
    case 0: {
      const session_decode decoded = decode_session_fields(rest, (data[0] & 0x80) != 0, policy);
      if (decoded.result == session_decode::outcome::error && decoded.error_code.empty()) {
        __builtin_trap();
      }
      break;
    }
    case 1: {
      session_table table(policy, "ROOM", "e");
      if (table.restore(rest, 0)) check_persists(table, policy);
      break;
    }
    default:
      drive(rest);
      break;
  }
  return 0;
}
