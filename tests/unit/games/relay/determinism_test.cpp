// Seeded determinism: a random input log (fixed seed, many connections, valid and invalid
// actions) replayed into two fresh relay games gives identical effects and snapshot bytes.
#include <algorithm>
#include <random>

#include "engine/secrets.hpp"
#include "relay_harness.hpp"

namespace partyd::relay::testing {
namespace {

struct logged_input {
  input_kind kind = input_kind::command;
  connection_id conn = 0;
  std::string text;    // command only
  std::string secret;  // first command of a connection only
};

constexpr std::string_view host_key = "the-host-key";
constexpr std::string_view password = "pw";

class log_generator {
 public:
  explicit log_generator(std::uint64_t seed) : rng_(seed) {}

  std::vector<logged_input> generate(std::size_t count) {
    std::vector<logged_input> log;
    for (std::size_t i = 0; i < count; ++i) {
      log.push_back(next());
    }
    log.push_back(logged_input{input_kind::admin_close, 0, {}, {}});
    return log;
  }

 private:
  std::uint64_t pick(std::uint64_t bound) { return rng_() % bound; }
  bool chance(int percent) { return pick(100) < static_cast<std::uint64_t>(percent); }
  template <typename T>
  const T& one_of(const std::vector<T>& items) {
    return items[pick(items.size())];
  }

  std::string poll_id() { return "poll" + std::to_string(pick(8)); }
  json::value random_json() {
    switch (pick(5)) {
      case 0:
        return json::value(static_cast<std::int64_t>(pick(1000)));
      case 1:
        return json::value("t" + std::to_string(pick(50)));
      case 2:
        return json::array{1, "x", nullptr};
      case 3:
        return json::object{{"k", pick(10)}, {"nested", {{"b", true}}}};
      default:
        return json::value(nullptr);
    }
  }
  json::value random_response() {
    static const std::vector<std::string> words = {"a", "b", "c", "  a ", "zz", ""};
    switch (pick(4)) {
      case 0:
        return json::value(one_of(words));
      case 1: {
        json::array list;
        for (std::uint64_t n = pick(3) + 1; n > 0; --n) {
          list.emplace_back(one_of(words));
        }
        return list;
      }
      case 2:
        return json::value(pick(3));
      default:
        return json::value("free " + std::to_string(pick(6)));
    }
  }

  json::object handshake() {
    json::object hs{{"type", "handshake"}, {"roomCode", room_code}};
    switch (pick(4)) {
      case 0:
        hs["role"] = "host";
        hs["hostKey"] = chance(80) ? std::string(host_key) : std::string("wrong");
        break;
      case 1:
      case 2:
        hs["role"] = "player";
        if (chance(85)) {
          hs["password"] = chance(90) ? std::string(password) : std::string("nope");
        }
        if (!player_ids_.empty() && chance(40)) {
          const std::string id = chance(90) ? one_of(player_ids_) : std::string("p_bogus");
          hs["clientId"] = id;
          hs["seatToken"] = seat_tokens_.count(id) ? seat_tokens_[id] : std::string("wrong");
        }
        if (chance(50)) {
          hs["meta"] = {{"name", "n" + std::to_string(pick(100))}};
        }
        break;
      default:
        hs["role"] = "audience";
        break;
    }
    return hs;
  }

  json::object command() {
    switch (pick(11)) {
      case 0:
        return {{"type", "set_game_state"}, {"state", {{"v", pick(100)}, {"x", random_json()}}}};
      case 1:
        return {{"type", "set_player_state"},
                {"clientId",
                 player_ids_.empty() || chance(10) ? std::string("p_x") : one_of(player_ids_)},
                {"state", {{"hand", pick(10)}}}};
      case 2:
      case 3:
        return {{"type", "message_to_host"}, {"message", random_json()}};
      case 4:
        return chance(20) ? json::object{{"type", "leave"}}
                          : json::object{{"type", "message_to_host"}, {"message", 1}};
      case 5: {
        static const std::vector<std::string> kinds = {"single_choice", "multiple_choice",
                                                       "free_text"};
        const std::string& kind = one_of(kinds);
        json::object start{
            {"type", "poll_start"}, {"pollId", poll_id()}, {"pollType", kind}, {"question", "q?"}};
        if (kind != "free_text") {
          start["options"] = chance(90) ? json::array{"a", "b", "c"} : json::array{"a"};
        }
        return start;
      }
      case 6:
      case 7:
        return {{"type", "poll_response"}, {"pollId", poll_id()}, {"response", random_response()}};
      case 8:
        return {{"type", "poll_end"}, {"pollId", poll_id()}};
      case 9:
        return {{"type", "poll_results_request"}, {"pollId", poll_id()}};
      default:
        return {{"type", "handshake"}, {"roomCode", room_code}, {"role", "audience"}};
    }
  }

  logged_input next() {
    logged_input in;
    const std::uint64_t roll = pick(100);
    if (roll < 2) {
      in.kind = chance(50) ? input_kind::timer : input_kind::created;
      return in;
    }
    if ((roll < 25 || open_.empty()) && next_conn_ < 400) {
      in.conn = next_conn_++;
      in.secret = "sec" + std::to_string(rng_());
      json::object hs = handshake();
      if (hs.at("role") == "player" && !hs.contains("clientId")) {
        // As the relay derives them: the secret is the seat token, the public id its digest.
        const std::string id = "p_" + sha256_tagged("seat-id:" + in.secret).substr(7, 24);
        player_ids_.push_back(id);
        seat_tokens_[id] = in.secret;
      }
      if (hs.at("role") == "host") {
        host_conn_ = in.conn;
      }
      if (chance(3)) {
        in.text = chance(50) ? "{broken" : R"({"type":"leave"})";  // first message errors
      } else {
        in.text = json::serialize(hs);
      }
      open_.push_back(in.conn);
      return in;
    }
    if (open_.empty()) {
      in.kind = input_kind::timer;
      return in;
    }
    std::size_t index = pick(open_.size());
    // The host sends most of the traffic that matters (state, polls): favour the newest one.
    if (host_conn_ != 0 && chance(40)) {
      auto host = std::find(open_.begin(), open_.end(), host_conn_);
      if (host != open_.end()) {
        index = static_cast<std::size_t>(host - open_.begin());
      }
    }
    in.conn = open_[index];
    if (roll < 35) {
      in.kind = input_kind::disconnect;
      open_.erase(open_.begin() + static_cast<std::ptrdiff_t>(index));
      return in;
    }
    if (roll < 38) {
      in.text = one_of(std::vector<std::string>{"not json", R"({"type":"nope"})", "[]",
                                                R"({"type":"poll_end"})"});
      return in;
    }
    in.text = json::serialize(command());
    return in;
  }

  std::mt19937_64 rng_;
  connection_id next_conn_ = 1;
  std::vector<connection_id> open_;
  std::vector<std::string> player_ids_;
  std::map<std::string, std::string> seat_tokens_;
  connection_id host_conn_ = 0;
};

std::string describe(const effect& e) {
  return std::to_string(static_cast<int>(e.kind)) + "|" + std::to_string(e.conn) + "|" +
         std::to_string(e.except) + "|" + std::to_string(e.roles) + "|" + std::to_string(e.role) +
         "|" + std::to_string(e.rate_limited) + "|" + std::to_string(e.type) + "|" +
         std::to_string(e.close_code) + "|" + e.text + "|" + (e.frame ? *e.frame : "-");
}

struct replay_result {
  std::vector<std::string> trace;
  std::string snapshot;
  std::map<std::string, int> frame_types;
  std::map<std::string, int> error_codes;
};

std::unique_ptr<relay_game> fresh_game(const relay_config& config) {
  room_state state;
  state.room_code = std::string(room_code);
  state.host_key_hash = sha256_tagged(host_key);
  state.password_hash = sha256_tagged(password);
  state.max_players = 12;
  state.max_audience = 20;
  return std::make_unique<relay_game>(config, std::move(state));
}

replay_result replay(const std::vector<logged_input>& log) {
  relay_config config;
  config.host_queue_max = 16;
  config.max_polls = 6;
  relay_module module(config);
  std::unique_ptr<relay_game> g = fresh_game(config);
  room_rng rng(99);
  std::set<connection_id> seen;
  replay_result result;
  time_ms now = 1'700'000'000'000;
  for (const logged_input& logged : log) {
    now += 10;
    input in;
    in.kind = logged.kind;
    in.conn = logged.conn;
    if (logged.kind == input_kind::command) {
      const bool first = seen.insert(logged.conn).second;
      decode_result decoded = module.decode(logged.text, first);
      if (decoded.error) {
        result.trace.push_back("decode|" + std::to_string(logged.conn) + "|" +
                               module.encode_error(decoded.error.code, decoded.error.message));
        ++result.error_codes[decoded.error.code];
        continue;
      }
      in.cmd = std::move(decoded.cmd);
      if (first) {
        in.secret = logged.secret;
      }
    }
    effects out;
    g->step(in, now, rng, out);
    for (const effect& e : out.list()) {
      result.trace.push_back(describe(e));
      if (e.frame) {
        json::object frame = json::parse(*e.frame).as_object();
        ++result.frame_types[str(frame.at("type"))];
        if (frame.contains("code")) {
          ++result.error_codes[str(frame.at("code"))];
        }
      }
    }
    // Invariants after every step.
    room_summary s = g->summary();
    EXPECT_LE(s.seats, 12u);
    EXPECT_LE(s.connected_by_role[audience_role], 20u);
    EXPECT_LE(s.connected_by_role[host_role], 1u);
    EXPECT_LE(g->state().host_queue.size(), 16u);
    EXPECT_LE(g->state().polls.size(), 6u);
  }
  result.snapshot = g->snapshot();
  return result;
}

TEST(RelayDeterminism, SeededLogReplaysIdentically) {
  for (std::uint64_t seed : {1ull, 42ull, 20240601ull}) {
    const std::vector<logged_input> log = log_generator(seed).generate(3000);
    replay_result a = replay(log);
    replay_result b = replay(log);
    ASSERT_EQ(a.trace.size(), b.trace.size()) << "seed " << seed;
    for (std::size_t i = 0; i < a.trace.size(); ++i) {
      ASSERT_EQ(a.trace[i], b.trace[i]) << "seed " << seed << " effect " << i;
    }
    EXPECT_EQ(a.snapshot, b.snapshot) << "seed " << seed;

    // The log exercised the protocol broadly.
    for (const char* type :
         {"handshake_response", "client_joined", "client_message", "game_state", "player_state",
          "poll_started", "poll_response", "poll_results", "poll_ended", "client_left",
          "client_disconnected", "seat_reclaimed", "host_replaced", "room_closed", "error"}) {
      EXPECT_GT(a.frame_types[type], 0) << "seed " << seed << " never produced " << type;
    }
    for (const char* code : {"invalid_json", "unknown_type", "bad_request", "handshake_required",
                             "wrong_password", "wrong_host_key", "seat_not_found", "already_joined",
                             "forbidden", "unknown_client", "poll_exists", "poll_not_found",
                             "poll_not_active", "invalid_response", "limit_reached", "room_full"}) {
      EXPECT_GT(a.error_codes[code], 0) << "seed " << seed << " never produced " << code;
    }
  }
}

TEST(RelayDeterminism, SnapshotMidLogRestoresToSameBytes) {
  const std::vector<logged_input> log = log_generator(7).generate(1500);
  relay_config config;
  config.host_queue_max = 16;
  config.max_polls = 6;
  relay_module module(config);
  std::unique_ptr<relay_game> g = fresh_game(config);
  room_rng rng(1);
  std::set<connection_id> seen;
  std::size_t checked = 0;
  for (std::size_t i = 0; i + 1 < log.size(); ++i) {
    input in;
    in.kind = log[i].kind;
    in.conn = log[i].conn;
    if (in.kind == input_kind::command) {
      const bool first = seen.insert(in.conn).second;
      decode_result decoded = module.decode(log[i].text, first);
      if (decoded.error) {
        continue;
      }
      in.cmd = std::move(decoded.cmd);
      in.secret = first ? log[i].secret : std::string();
    }
    effects out;
    g->step(in, 0, rng, out);
    if (i % 97 == 0) {
      const std::string bytes = g->snapshot();
      std::unique_ptr<game> restored = module.restore(bytes);
      ASSERT_NE(restored, nullptr) << "step " << i;
      EXPECT_EQ(restored->snapshot(), bytes) << "step " << i;
      ++checked;
    }
  }
  EXPECT_GT(checked, 10u);
}

}  // namespace
}  // namespace partyd::relay::testing
