// partyload: shared pieces of the load generator (options, clocks, histograms, per-thread
// counters, /proc readings, the admin API client).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json.hpp>

namespace partyload {

namespace net = boost::asio;
namespace json = boost::json;
using tcp = net::ip::tcp;

// How the relay scenarios' clients talk to the server: the JSON protocol on /ws/relay, or the
// same messages as Socket.IO events (docs/protocol/socketio.md).
enum class transport_kind { json, socketio };

struct options {
  std::string host = "127.0.0.1";
  std::string port = "8080";
  std::string token;
  std::string scenario = "relay-fanout";
  int rooms = 10;
  int players = 8;
  double state_rate = 10;  // host set_game_state per second per room
  double player_rate = 0;  // message_to_host per second per player
  int state_bytes = 200;
  double duration_s = 10;
  int threads = 1;
  int connections = 1000;  // idle, join-storm, reconnect-storm
  int server_pid = 0;
  int burst = 1;             // frames sent back to back per host tick
  double think_ms = 2000;    // brainrot: mean pause before each action of a client
  double ramp_s = 0;         // brainrot: room starts spread over the first ramp_s seconds
  int game_rounds = 2;       // brainrot: rounds per game
  int game_items = 3;        // brainrot: items per round
  int question_s = 15;       // quiz: secondsPerQuestion (its rounds are --game-rounds)
  bool sessions = false;     // relay players ask for a session ("version":"1.0")
  std::string before_storm;  // reconnect-storm: shell command run after the drop, before resuming
  transport_kind transport = transport_kind::json;  // relay scenarios
  std::string socketio_game;  // socketio: the handshake's game=, empty for the server's default
};

std::int64_t mono_ns();
// The wall clock in ns, to compare with the server's millisecond timestamps (one machine).
std::int64_t wall_ns();

// Latency histogram, log-linear (64 sub-buckets per power of two: under 1.6% error), in ns.
// One thread records (plain load + store, no locked instruction); any thread may read.
class histogram {
 public:
  static constexpr int sub_bits = 7;
  static constexpr int half = 1 << (sub_bits - 1);
  static constexpr int max_msb = 40;  // ~1100 s; larger values are clamped
  static constexpr int size = (1 << sub_bits) + (max_msb - sub_bits + 1) * half;

  void record(std::int64_t ns) {
    if (ns < 0) ns = 0;
    const auto index = index_of(static_cast<std::uint64_t>(ns));
    bump(counts_[index]);
    if (ns > max_.load(std::memory_order_relaxed)) max_.store(ns, std::memory_order_relaxed);
  }
  void add_to(std::vector<std::uint64_t>& counts, std::int64_t& max) const;

  static std::size_t index_of(std::uint64_t v);
  static std::int64_t value_of(std::size_t index);  // midpoint of the bucket

  static void bump(std::atomic<std::uint64_t>& a, std::uint64_t n = 1) {
    a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

 private:
  std::array<std::atomic<std::uint64_t>, size> counts_{};
  std::atomic<std::int64_t> max_{0};
};

struct summary {
  std::uint64_t count = 0;
  double p50_ms = 0, p95_ms = 0, p99_ms = 0, max_ms = 0;
};

// Several histograms (one per thread) merged.
summary summarize(const std::vector<const histogram*>& parts);
json::object to_json(const summary& s);
// `name` as an object (to_json) and as flat keys <name>_p50_ms ... <name>_max_ms.
void put_percentiles(json::object& out, std::string_view name, const summary& s);

// Brainrot command types whose latency is reported.
enum class command : int {
  create_room,
  join_room,
  take_player,
  rename_player,
  start_game,
  reel_opened,
  submit_vote,
  end_item,
  start_next_round,
  room_closed,
  count
};
constexpr int command_count = static_cast<int>(command::count);
const char* command_name(command c);

// Counters and histograms of one io thread. Only that thread writes them (histogram::bump).
struct shard {
  std::atomic<std::uint64_t> frames_in{0};         // frames received
  std::atomic<std::uint64_t> frames_out{0};        // frames sent
  std::atomic<std::uint64_t> delivered{0};         // measured deliveries (relay)
  std::atomic<std::uint64_t> sent{0};              // measured sends (relay)
  std::atomic<std::uint64_t> joined{0};            // successful (re)joins
  std::atomic<std::uint64_t> games{0};             // brainrot games completed
  std::atomic<std::uint64_t> actions{0};           // brainrot commands sent
  std::atomic<std::int64_t> last_join_ns{0};       // mono_ns() of the latest successful (re)join
  std::atomic<std::uint64_t> recovered{0};         // RECONNECTED with recovered:true
  std::atomic<std::uint64_t> snapshot_resumes{0};  // RECONNECTED with recovered:false
  std::atomic<std::uint64_t> epoch_changed{0};  // RECONNECTED with another epoch than CONNECTED's
  std::atomic<std::uint64_t> acks{0};           // ACKs sent (sessions)
  std::atomic<std::uint64_t> heartbeats{0};     // HEARTBEATs sent (sessions)
  std::atomic<std::uint64_t> resyncs{0};        // STATE_SNAPSHOTs received (checksum mismatch)
  histogram to_players;                         // relay game_state host -> player
  histogram to_host;                            // relay message_to_host player -> host
  histogram join;                               // connect -> handshake_response
  histogram rejoin;                             // drop -> seat reclaimed (reconnect-storm)
  std::array<histogram, command_count> reply;   // brainrot: request -> sender's answer
  std::array<histogram, command_count> broadcast;  // brainrot: request -> others' copies
  histogram quiz_result;    // quiz: game:answer_result arrival - its closedAt (wall clock)
  histogram quiz_lateness;  // quiz: closedAt - deadline of a question closed by its timer
  histogram quiz_answer;    // quiz: game:answer -> the sender's own game:answered
};

// What the whole run shares: errors by code (rare, so a mutex is fine) and the measuring flag.
struct run_state {
  std::atomic<bool> measuring{false};
  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> errors{0};
  std::mutex error_mutex;
  std::map<std::string, std::uint64_t, std::less<>> errors_by_code;

  void error(std::string_view code);
  json::object errors_json();
  // True for the first few unexpected frames only, so that a broken run does not flood stderr.
  bool log_frame() { return logged.fetch_add(1, std::memory_order_relaxed) < 10; }
  std::atomic<int> logged{0};
};

// /proc readings; pid 0 = this process.
double process_cpu_seconds(int pid);
long rss_kib(int pid);

// Value of a string field `"name":"value"` in a server frame (no escapes expected in ids).
std::string_view string_field(std::string_view frame, std::string_view name);
// Value of a numeric field `"name":123`.
std::optional<std::int64_t> int_field(std::string_view frame, std::string_view name);
// The numbering a session puts in front of a frame's own members (docs/protocol/sessions.md):
// {"sequenceId":N, then "requiresAck":true,"ackId":"ack_N" for a reliable frame.
struct numbering {
  std::uint64_t seq = 0;    // 0: not a numbered frame
  std::string_view ack_id;  // a reliable frame's ackId, else empty
  std::string_view rest;    // the frame after the numbering (",\"type\":..." for a numbered one)
  std::string_view error;   // bad_sequence_id or bad_ack_id; then nothing else is set
};
numbering read_numbering(std::string_view frame);
// The frame's "type" value.
inline std::string_view frame_type(std::string_view frame) { return string_field(frame, "type"); }

// Blocking admin API request (setup only, never on an io thread).
json::value admin_request(const options& opt, const std::string& method, const std::string& target,
                          const std::string& body);

}  // namespace partyload
