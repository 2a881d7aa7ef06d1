// Relay polls: start, responses of every type, end, results, and every poll error code.
#include "relay_harness.hpp"

namespace partyd::relay::testing {
namespace {

constexpr role_mask audience_mask = role_bit(audience_role);

json::object poll_start(std::string id, std::string type, json::array options = {}) {
  json::object m{
      {"type", "poll_start"}, {"pollId", id}, {"pollType", type}, {"question", "Q " + id}};
  if (!options.empty()) {
    m["options"] = options;
  }
  return m;
}
json::object respond(std::string id, json::value response) {
  return {{"type", "poll_response"}, {"pollId", id}, {"response", response}};
}
json::object results(std::string id) { return {{"type", "poll_results_request"}, {"pollId", id}}; }
json::object poll_end(std::string id) { return {{"type", "poll_end"}, {"pollId", id}}; }

TEST(RelayPolls, StartBroadcastsToAudience) {
  harness h;
  h.join_host(1);
  outcome o = h.send(1, poll_start("q1", "multiple_choice", {"Ham", "Olives", "Corn"}));
  auto b = o.broadcasts();
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].first, audience_mask);
  EXPECT_EQ(b[0].second, (json::object{{"type", "poll_started"},
                                       {"pollId", "q1"},
                                       {"pollType", "multiple_choice"},
                                       {"question", "Q q1"},
                                       {"options", {"Ham", "Olives", "Corn"}}}));
  EXPECT_TRUE(o.important());
  outcome f = h.send(1, poll_start("q2", "free_text"));
  EXPECT_EQ(f.broadcasts().at(0).second.at("options"), json::array{});
  // The host's handshake lists every poll.
  json::array polls = h.handshake(2, {{"role", "host"}, {"hostKey", h.host_key()}})
                          .to(2)
                          .at(0)
                          .at("polls")
                          .as_array();
  ASSERT_EQ(polls.size(), 2u);
  EXPECT_EQ(polls[0].at("pollId"), "q1");
  EXPECT_EQ(polls[0].at("active"), true);
  EXPECT_EQ(polls[1].at("pollType"), "free_text");
}

TEST(RelayPolls, SingleChoiceFlow) {
  harness h;
  h.join_host(1);
  const std::string a = h.join_audience(2);
  const std::string b = h.join_audience(3);
  const std::string c = h.join_audience(4);
  h.send(1, poll_start("q", "single_choice", {"Red", "Blue", "Green"}));
  outcome r = h.send(2, respond("q", "Red"));
  EXPECT_EQ(r.only(1),
            (json::object{
                {"type", "poll_response"}, {"pollId", "q"}, {"clientId", a}, {"response", "Red"}}));
  EXPECT_TRUE(r.to(2).empty());
  h.send(3, respond("q", "Red"));
  h.send(3, respond("q", "Blue"));  // last response wins
  h.send(4, respond("q", "Blue"));
  json::object res = h.send(1, results("q")).only(1);
  EXPECT_EQ(res, (json::object{{"type", "poll_results"},
                               {"pollId", "q"},
                               {"pollType", "single_choice"},
                               {"active", true},
                               {"counts", {{"Red", 1}, {"Blue", 2}, {"Green", 0}}},
                               {"totalResponses", 3}}));
  // Option order is kept in counts.
  std::vector<std::string> keys;
  for (auto& kv : res.at("counts").as_object()) {
    keys.emplace_back(kv.key());
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"Red", "Blue", "Green"}));
  (void)b;
  (void)c;
}

TEST(RelayPolls, MultipleChoiceFlow) {
  harness h;
  h.join_host(1);
  h.join_audience(2);
  h.join_audience(3);
  h.send(1, poll_start("m", "multiple_choice", {"a", "b", "c"}));
  EXPECT_EQ(h.send(2, respond("m", {"a", "c"})).only(1).at("response"), (json::array{"a", "c"}));
  h.send(3, respond("m", {"c"}));
  json::object res = h.send(1, results("m")).only(1);
  EXPECT_EQ(res.at("counts"), (json::object{{"a", 1}, {"b", 0}, {"c", 2}}));
  EXPECT_EQ(res.at("totalResponses"), 2);
}

TEST(RelayPolls, FreeTextFlowTrimsAndOrdersCounts) {
  harness h;
  h.join_host(1);
  const std::vector<std::string> answers = {"  pizza ", "tacos", "pizza", "\tsushi\n",
                                            "tacos",    "pizza", "apples"};
  connection_id conn = 10;
  for (const std::string& text : answers) {
    h.join_audience(conn);
    if (conn == 10) {
      h.send(1, poll_start("f", "free_text"));
    }
    outcome o = h.send(conn, respond("f", json::string(text)));
    EXPECT_EQ(o.error_code(conn), "") << text;
    ++conn;
  }
  EXPECT_EQ(h.send(10, respond("f", " pizza")).only(1).at("response"), "pizza");
  json::object res = h.send(1, results("f")).only(1);
  EXPECT_EQ(res.at("pollType"), "free_text");
  EXPECT_EQ(res.at("totalResponses"), 7);
  std::vector<std::pair<std::string, std::int64_t>> counts;
  for (auto& kv : res.at("counts").as_object()) {
    counts.emplace_back(std::string(kv.key()), kv.value().as_int64());
  }
  EXPECT_EQ(counts, (std::vector<std::pair<std::string, std::int64_t>>{
                        {"pizza", 3}, {"tacos", 2}, {"apples", 1}, {"sushi", 1}}));
}

TEST(RelayPolls, EndAndResultsOfEndedPoll) {
  harness h;
  h.join_host(1);
  h.join_audience(2);
  h.send(1, poll_start("q", "single_choice", {"x", "y"}));
  h.send(2, respond("q", "y"));
  outcome e = h.send(1, poll_end("q"));
  auto b = e.broadcasts();
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].first, audience_mask);
  EXPECT_EQ(b[0].second, (json::object{{"type", "poll_ended"}, {"pollId", "q"}}));
  EXPECT_TRUE(e.important());
  json::object res = h.send(1, results("q")).only(1);
  EXPECT_EQ(res.at("active"), false);
  EXPECT_EQ(res.at("counts"), (json::object{{"x", 0}, {"y", 1}}));
  EXPECT_EQ(h.send(2, respond("q", "x")).error_code(2), "poll_not_active");
  EXPECT_EQ(h.send(1, poll_end("q")).error_code(1), "poll_not_active");
  // An ended poll's id stays taken.
  EXPECT_EQ(h.send(1, poll_start("q", "free_text")).error_code(1), "poll_exists");
}

TEST(RelayPolls, ResponsesRecordedWithoutHost) {
  harness h;
  h.join_host(1);
  h.join_audience(2);
  h.send(1, poll_start("q", "single_choice", {"x", "y"}));
  h.disconnect(1);
  outcome o = h.send(2, respond("q", "x"));
  EXPECT_TRUE(o.effects.empty());
  h.join_host(3);
  EXPECT_EQ(h.send(3, results("q")).only(3).at("totalResponses"), 1);
}

TEST(RelayPolls, ErrorTable) {
  struct row {
    const char* name;
    connection_id sender;  // 1 = host, 2 = audience
    json::object message;
    const char* code;
  };
  std::vector<row> rows = {
      {"duplicate id", 1, poll_start("s", "free_text"), "poll_exists"},
      {"end unknown", 1, poll_end("nope"), "poll_not_found"},
      {"results unknown", 1, results("nope"), "poll_not_found"},
      {"respond unknown", 2, respond("nope", "x"), "poll_not_found"},
      {"single not an option", 2, respond("s1", "z"), "invalid_response"},
      {"single array", 2, respond("s1", {"x"}), "invalid_response"},
      {"single number", 2, respond("s1", 1), "invalid_response"},
      {"single case differs", 2, respond("s1", "X"), "invalid_response"},
      {"multi string", 2, respond("m", "x"), "invalid_response"},
      {"multi empty", 2, respond("m", json::array{}), "invalid_response"},
      {"multi duplicate", 2, respond("m", {"x", "x"}), "invalid_response"},
      {"multi unknown option", 2, respond("m", {"x", "q"}), "invalid_response"},
      {"multi non-string", 2, respond("m", {"x", 3}), "invalid_response"},
      {"free empty", 2, respond("s", ""), "invalid_response"},
      {"free blank", 2, respond("s", "   \t "), "invalid_response"},
      {"free too long", 2, respond("s", json::string(std::string(501, 'a'))), "invalid_response"},
      {"free object", 2, respond("s", {{"a", 1}}), "invalid_response"},
  };
  for (const row& r : rows) {
    harness h;
    h.join_host(1);
    h.join_audience(2);
    h.send(1, poll_start("s", "free_text"));
    h.send(1, poll_start("s1", "single_choice", {"x", "y"}));
    h.send(1, poll_start("m", "multiple_choice", {"x", "y"}));
    outcome o = h.send(r.sender, r.message);
    ASSERT_FALSE(o.decode_error) << r.name << ": " << o.decode_error.message;
    json::object e = o.only(r.sender);
    EXPECT_EQ(e.at("type"), "error") << r.name;
    EXPECT_EQ(e.at("code"), r.code) << r.name;
    EXPECT_EQ(e.at("requestType"), r.message.at("type")) << r.name;
    EXPECT_TRUE(o.to(r.sender == 1 ? 2 : 1).empty()) << r.name;
  }
  // Boundary: 500 characters (multi-byte) are accepted after trimming.
  harness h;
  h.join_host(1);
  h.join_audience(2);
  h.send(1, poll_start("s", "free_text"));
  std::string long_text;
  for (int i = 0; i < 500; ++i) {
    long_text += "\xC3\xA9";  // é
  }
  EXPECT_EQ(h.send(2, respond("s", json::string("  " + long_text + "  "))).error_code(2), "");
}

TEST(RelayPolls, LimitReached) {
  relay_config config;
  config.max_polls = 2;
  harness h(json::object{}, config);
  h.join_host(1);
  EXPECT_EQ(h.send(1, poll_start("a", "free_text")).error_code(1), "");
  EXPECT_EQ(h.send(1, poll_start("b", "free_text")).error_code(1), "");
  h.send(1, poll_end("a"));  // ended polls still count
  outcome o = h.send(1, poll_start("c", "free_text"));
  EXPECT_EQ(o.error_code(1), "limit_reached");
  EXPECT_TRUE(o.broadcasts().empty());
}

}  // namespace
}  // namespace partyd::relay::testing
