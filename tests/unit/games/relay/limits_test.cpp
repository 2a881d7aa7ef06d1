// Relay reply limits (docs/protocol/relay.md, Limits): the largest frame a room can send, the
// host's handshake_response and a free-text poll's results, stays within reply_max_bytes; seats
// and audience are bounded when a room says "unlimited"; the host queue is bounded by bytes, so
// a reconnecting host gets its handshake_response and every queued message within one outbox.
#include "relay_harness.hpp"

namespace partyd::relay::testing {
namespace {

// The frame of `type` sent to `conn`, serialized size and parsed.
struct sized_frame {
  std::size_t bytes = 0;
  json::object frame;
};
std::vector<sized_frame> frames_to(const outcome& o, connection_id conn) {
  std::vector<sized_frame> found;
  for (const effect& e : o.effects) {
    if (e.kind == effect_kind::send && e.conn == conn) {
      found.push_back({e.frame->size(), json::parse(*e.frame).as_object()});
    }
  }
  return found;
}

json::object meta_of(std::size_t bytes) {
  // {"name":"xxx..."} serialized: 11 bytes around the text.
  return json::object{{"name", std::string(bytes - 11, 'm')}};
}

TEST(RelayLimits, UnlimitedMeansTheServersMaximum) {
  relay_config config;
  config.max_seats = 5;
  config.max_audience = 3;
  harness h(json::object{}, config);
  for (connection_id c = 10; c < 15; ++c) {
    EXPECT_FALSE(h.join_player(c).empty());
  }
  EXPECT_EQ(h.handshake(15, {{"role", "player"}}).error_code(15), "room_full");
  for (connection_id c = 20; c < 23; ++c) {
    EXPECT_FALSE(h.join_audience(c).empty());
  }
  EXPECT_EQ(h.handshake(23, {{"role", "audience"}}).error_code(23), "room_full");

  // A room cannot ask for more than the maximum.
  relay_module module(config);
  EXPECT_EQ(module.create({{"maxPlayers", 6}}, "CODE12").error.code, "bad_request");
  EXPECT_EQ(module.create({{"maxAudience", 4}}, "CODE12").error.code, "bad_request");
  EXPECT_FALSE(module.create({{"maxPlayers", 5}, {"maxAudience", 3}}, "CODE12").error);
}

TEST(RelayLimits, HostHandshakeAtTheSeatMaximumWithMaximumMetaFitsTheReplyLimit) {
  const relay_config config;  // defaults: 1000 seats, 1 KiB meta, 640 KiB replies
  harness h(json::object{}, config);
  ASSERT_FALSE(h.join_host(1).empty());
  const json::object meta = meta_of(config.meta_max_bytes);
  std::size_t seated = 0;
  std::string refused;
  std::string first_player;
  for (connection_id c = 100; seated < config.max_seats; ++c) {
    outcome o = h.handshake(c, {{"role", "player"}, {"meta", meta}});
    refused = o.error_code(c);
    if (!refused.empty()) break;
    if (first_player.empty()) first_player = str(frames_to(o, c).front().frame.at("clientId"));
    ++seated;
  }
  // 1000 seats of 1 KiB meta do not fit 640 KiB: the room is full before its seat maximum.
  EXPECT_EQ(refused, "room_full");
  EXPECT_GT(seated, 500u);
  EXPECT_LT(seated, config.max_seats);

  // The host reconnects and gets every seat, within the limit.
  outcome again = h.handshake(2, {{"role", "host"}, {"hostKey", h.host_key()}});
  std::vector<sized_frame> to_host = frames_to(again, 2);
  ASSERT_EQ(to_host.size(), 1u);
  EXPECT_LE(to_host[0].bytes, config.reply_max_bytes);
  EXPECT_EQ(to_host[0].frame.at("clients").as_array().size(), seated);

  // A full room still takes its players back, without meta (the seat keeps its own).
  h.disconnect(100);
  EXPECT_EQ(h.join_player(5000, {{"clientId", first_player}}), first_player);
  EXPECT_EQ(h.handshake(5001, {{"role", "player"}, {"meta", meta}}).error_code(5001), "room_full");
}

TEST(RelayLimits, ReclaimWithALargerMetaIsRefusedWhenTheListIsFull) {
  relay_config config;
  config.max_message_bytes = 4096;
  config.meta_max_bytes = 1024;
  config.reply_max_bytes = 2 * config.max_message_bytes + 1024;  // the smallest allowed
  ASSERT_EQ(relay_module::check_config(config), "");
  harness h(json::object{}, config);
  const std::string first = h.join_player(10, {{"meta", meta_of(20)}});
  ASSERT_FALSE(first.empty());
  connection_id c = 11;
  while (h.handshake(c, {{"role", "player"}, {"meta", meta_of(100)}}).error_code(c).empty()) ++c;
  outcome grow = h.handshake(50, {{"role", "player"}, {"clientId", first}, {"meta", meta_of(900)}});
  EXPECT_EQ(grow.error_code(50), "room_full");
  EXPECT_EQ(grow.close_of(10), nullptr) << "the seat's holder is not closed by a refused reclaim";
  // The same seat with its meta as it was: accepted.
  EXPECT_EQ(h.join_player(51, {{"clientId", first}}), first);
}

TEST(RelayLimits, AudienceAndPollsShareTheHostsReplyLimit) {
  relay_config config;
  config.max_message_bytes = 4096;
  config.reply_max_bytes = 2 * config.max_message_bytes + 1024;
  harness h(json::object{}, config);
  ASSERT_FALSE(h.join_host(1).empty());
  connection_id c = 100;
  while (h.handshake(c, {{"role", "audience"}, {"meta", meta_of(200)}}).error_code(c).empty()) {
    ++c;
  }
  EXPECT_EQ(h.handshake(c + 1, {{"role", "audience"}}).error_code(c + 1), "room_full");
  // One leaves: one more fits.
  h.send(100, {{"type", "leave"}});
  EXPECT_FALSE(h.join_audience(c + 2).empty());
  // No room left for a poll of this size.
  json::array options{std::string(180, 'a'), std::string(180, 'b')};
  outcome poll = h.send(1, {{"type", "poll_start"},
                            {"pollId", "q"},
                            {"pollType", "single_choice"},
                            {"question", std::string(400, 'q')},
                            {"options", options}});
  EXPECT_EQ(poll.error_code(1), "limit_reached");
  EXPECT_TRUE(poll.unchanged);

  outcome again = h.handshake(2, {{"role", "host"}, {"hostKey", h.host_key()}});
  ASSERT_EQ(frames_to(again, 2).size(), 1u);
  EXPECT_LE(frames_to(again, 2)[0].bytes, config.reply_max_bytes);
}

TEST(RelayLimits, FreeTextAnswersStopAtTheResultsLimit) {
  relay_config config;
  config.max_message_bytes = 4096;
  config.reply_max_bytes = 2 * config.max_message_bytes + 1024;
  harness h(json::object{}, config);
  ASSERT_FALSE(h.join_host(1).empty());
  h.send(1,
         {{"type", "poll_start"}, {"pollId", "q"}, {"pollType", "free_text"}, {"question", "?"}});
  connection_id c = 100;
  std::string refused;
  for (; c < 400 && refused.empty(); ++c) {
    ASSERT_FALSE(h.join_audience(c).empty());
    outcome o = h.send(c, {{"type", "poll_response"},
                           {"pollId", "q"},
                           {"response", std::to_string(c) + std::string(400, 'x')}});
    refused = o.error_code(c);
  }
  EXPECT_EQ(refused, "limit_reached");
  const connection_id last = c - 1;
  // An answer already given is still taken (it adds no line to the results).
  EXPECT_EQ(h.send(last, {{"type", "poll_response"},
                          {"pollId", "q"},
                          {"response", "100" + std::string(400, 'x')}})
                .error_code(last),
            "");
  outcome results = h.send(1, {{"type", "poll_results_request"}, {"pollId", "q"}});
  std::vector<sized_frame> frames = frames_to(results, 1);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_LE(frames[0].bytes, config.reply_max_bytes);
  EXPECT_GT(frames[0].bytes, config.reply_max_bytes / 2);

  // Restored, the room counts its answers again: the next new one is still refused.
  std::unique_ptr<game> restored = relay_restore(config, h.instance().snapshot());
  ASSERT_TRUE(restored);
  harness r(std::move(restored), config);
  ASSERT_FALSE(r.join_audience(900).empty());
  EXPECT_EQ(r.send(900, {{"type", "poll_response"},
                         {"pollId", "q"},
                         {"response", "new" + std::string(400, 'x')}})
                .error_code(900),
            "limit_reached");
}

TEST(RelayLimits, HostQueueIsBoundedByBytesAndDeliveredWhole) {
  relay_config config;
  config.host_queue_max_bytes = 20000;
  harness h(json::object{}, config);
  ASSERT_FALSE(h.join_player(10).empty());
  std::size_t dropped = 0;
  for (int i = 0; i < 10; ++i) {
    outcome o = h.send(10, {{"type", "message_to_host"},
                            {"message", json::object{{"n", i}, {"blob", std::string(5000, 'b')}}}});
    dropped += o.count_of("relay_host_queue_dropped");
  }
  // A message larger than the whole queue is not kept and pushes nothing out.
  outcome huge = h.send(10, {{"type", "message_to_host"}, {"message", std::string(30000, 'h')}});
  EXPECT_EQ(huge.count_of("relay_host_queue_dropped"), 1u);

  outcome host = h.handshake(1, {{"role", "host"}, {"hostKey", h.host_key()}});
  std::vector<sized_frame> frames = frames_to(host, 1);
  ASSERT_GE(frames.size(), 2u);
  const std::size_t kept = frames.size() - 1;
  EXPECT_EQ(kept + dropped, 10u);
  EXPECT_EQ(kept, 3u);  // 3 of about 5 KB fit 20,000 bytes
  std::size_t queued_bytes = 0;
  for (std::size_t i = 1; i < frames.size(); ++i) {
    EXPECT_EQ(frames[i].frame.at("type"), "client_message");
    // The newest, in order.
    EXPECT_EQ(frames[i].frame.at("message").at("n"), json::value(10 - kept + (i - 1)));
    queued_bytes += frames[i].bytes;
  }
  EXPECT_LE(queued_bytes, config.host_queue_max_bytes);
  EXPECT_LE(frames[0].bytes + queued_bytes, config.largest_reply_bytes());
}

TEST(RelayLimits, ARestoredQueueOverTheByteLimitKeepsItsNewest) {
  relay_config wide;
  wide.host_queue_max_bytes = 100000;
  harness h(json::object{}, wide);
  ASSERT_FALSE(h.join_player(10).empty());
  for (int i = 0; i < 10; ++i) {
    h.send(10, {{"type", "message_to_host"},
                {"message", json::object{{"n", i}, {"blob", std::string(5000, 'b')}}}});
  }
  relay_config narrow;
  narrow.host_queue_max_bytes = 12000;
  std::unique_ptr<game> restored = relay_restore(narrow, h.instance().snapshot());
  ASSERT_TRUE(restored);
  harness r(std::move(restored), narrow);
  outcome host = r.handshake(1, {{"role", "host"}, {"hostKey", h.host_key()}});
  std::vector<sized_frame> frames = frames_to(host, 1);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[1].frame.at("message").at("n"), json::value(8));
  EXPECT_EQ(frames[2].frame.at("message").at("n"), json::value(9));
}

TEST(RelayLimits, PlayerStateIsMeasuredAsItIsRelayed) {
  relay_config config;
  config.state_max_bytes = 1000;
  harness h(json::object{}, config);
  ASSERT_FALSE(h.join_host(1).empty());
  const std::string player = h.join_player(10);
  // 240 numbers written "1.1," (968 bytes of state) are relayed as written: they fit, although
  // written again they would come out "1.1E0," (1448 bytes).
  std::string list = "[";
  for (int i = 0; i < 240; ++i) list += i == 0 ? "1.1" : ",1.1";
  list += "]";
  const std::string state = R"({"v":)" + list + "}";
  const auto set_state = [&](const std::string& text) {
    return h.send_text(
        1, R"({"type":"set_player_state","clientId":")" + player + R"(","state":)" + text + "}");
  };
  outcome o = set_state(state);
  ASSERT_FALSE(o.decode_error) << o.decode_error.message;
  ASSERT_EQ(o.effects.size(), 1u);
  EXPECT_EQ(*o.effects[0].frame, R"({"type":"player_state","state":)" + state + "}");
  // Whitespace inside the state is relayed too, and so it counts.
  const std::string spaced = R"({"v":)" + list + std::string(40, ' ') + "}";
  EXPECT_EQ(set_state(spaced).decode_error.code, "bad_request");
}

TEST(RelayLimits, MetaIsMeasuredAsItIsRelayed) {
  relay_config config;
  config.meta_max_bytes = 64;
  harness h(json::object{}, config);
  const auto join = [&](connection_id conn, const std::string& meta) {
    return h.send_text(
        conn, R"({"type":"handshake","roomCode":"ROOM42","role":"audience","meta":)" + meta + "}");
  };
  // 64 bytes as written (88 written again, 1.1 as 1.1E0): accepted.
  std::string list = "[1.1";
  for (int i = 0; i < 11; ++i) list += ",1.1";
  list += "]";
  const std::string meta = R"({"n":)" + list + R"(,"s":"ab"})";
  ASSERT_EQ(meta.size(), 64u);
  const outcome joined = join(1, meta);
  EXPECT_FALSE(joined.decode_error) << joined.decode_error.message;
  // 65 bytes as written, 2 without the whitespace: refused.
  EXPECT_EQ(join(2, "[" + std::string(63, ' ') + "]").decode_error.code, "bad_request");
}

TEST(RelayLimits, QueuedMessagesCountTheBytesTheHostGets) {
  relay_config config;
  config.host_queue_max_bytes = 3000;
  harness h(json::object{}, config);
  const std::string player = h.join_player(10);
  // Frames of 253 bytes as sent (341 with the numbers written again as 1.1E0): 11 fit.
  std::string numbers = "[1.1";
  for (int i = 0; i < 39; ++i) numbers += ",1.1";
  numbers += "]";
  std::size_t dropped = 0;
  for (int i = 0; i < 20; ++i) {
    dropped += h.send_text(10, R"({"type":"message_to_host","message":)" + numbers + "}")
                   .count_of("relay_host_queue_dropped");
  }
  std::vector<sized_frame> frames =
      frames_to(h.handshake(1, {{"role", "host"}, {"hostKey", h.host_key()}}), 1);
  ASSERT_GE(frames.size(), 2u);
  std::size_t queued_bytes = 0;
  for (std::size_t i = 1; i < frames.size(); ++i) queued_bytes += frames[i].bytes;
  EXPECT_LE(queued_bytes, config.host_queue_max_bytes);
  EXPECT_GT(queued_bytes + frames[1].bytes, config.host_queue_max_bytes)
      << "one more would not fit";
  EXPECT_EQ(frames.size() - 1 + dropped, 20u);
}

TEST(RelayLimits, ConfigTiesAndTheDefaultsFitTheOutbox) {
  const relay_config defaults;
  EXPECT_EQ(relay_module::check_config(defaults), "");
  EXPECT_LE(defaults.largest_reply_bytes(), std::size_t{1} << 20);
  relay_module module(defaults);
  EXPECT_EQ(check_largest_reply(module, std::size_t{1} << 20), "");
  EXPECT_NE(check_largest_reply(module, 900000), "");

  relay_config small = defaults;
  small.reply_max_bytes = 2 * small.max_message_bytes;
  EXPECT_NE(relay_module::check_config(small), "");
  relay_config no_seats = defaults;
  no_seats.max_seats = 0;
  EXPECT_NE(relay_module::check_config(no_seats), "");
}

}  // namespace
}  // namespace partyd::relay::testing
