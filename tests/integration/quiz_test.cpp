// The quiz against the real binary (docs/protocol/quiz.md): HS256 tokens at the upgrade, a lobby
// created by its host's first message, a whole game through real sockets on the session layer,
// and a kill -9 in the middle of a question that resumes with the same deadline and the answers
// already given.
#include <signal.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "support/jwt_tokens.hpp"
#include "support/session_client.hpp"
#include "support/temp_dir.hpp"
#include "support/test_server.hpp"
#include "support/ws_client.hpp"

namespace partyd::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

const std::string kSecret = "quiz-integration-secret-of-32-bytes!";

std::string str(const json::value& v) { return std::string(v.as_string()); }

std::string token_for(const std::string& user, const std::string& name) {
  json::object claims = fresh_claims(user);
  claims["name"] = name;
  return hs256_token(claims, kSecret);
}

std::string quiz_path(const std::string& user) {
  return "/ws/quiz?token=" + token_for(user, "Name " + user);
}

std::vector<json::object> of_type(const std::vector<json::object>& frames, std::string_view type) {
  std::vector<json::object> found;
  for (const json::object& f : frames) {
    if (f.at("type").as_string() == type) found.push_back(f);
  }
  return found;
}

// Until the correct option is revealed, nothing a player gets may carry it.
bool mentions_correct(const std::vector<json::object>& frames) {
  for (const json::object& f : frames) {
    if (f.at("type").as_string() == "game:answer_result") return false;
    if (json::serialize(f).find("correct") != std::string::npos) return true;
  }
  return false;
}

class quiz_test : public ::testing::Test {
 protected:
  void start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--auth-jwt-secret", kSecret, "--quiz-result-pause-ms", "300"};
    args.insert(args.end(), extra.begin(), extra.end());
    args_ = args;
    server_ = std::make_unique<test_server>(args);
    ASSERT_TRUE(server_->started());
  }
  std::unique_ptr<session_client> player(const std::string& user) {
    return std::make_unique<session_client>(server_->port(), quiz_path(user));
  }
  // The host's lobby: returns its code.
  std::string create(session_client& host, json::object settings) {
    EXPECT_TRUE(host.open(json::object{{"type", "lobby:create"}, {"settings", settings}}));
    auto states = of_type(host.stream, "lobby:state");
    EXPECT_FALSE(states.empty());
    return states.empty() ? std::string() : str(states.back().at("code"));
  }

  std::vector<std::string> args_;
  std::unique_ptr<test_server> server_;
};

TEST_F(quiz_test, an_upgrade_without_a_valid_token_is_refused_before_any_websocket) {
  start();
  ws_client anonymous;
  EXPECT_FALSE(anonymous.connect(server_->port(), "/ws/quiz"));
  EXPECT_EQ(anonymous.upgrade_status(), 401);
  ws_client forged;
  json::object claims = fresh_claims("u-x");
  EXPECT_FALSE(forged.connect(
      server_->port(), "/ws/quiz?token=" + hs256_token(claims, "another-secret-32-bytes-long!!!")));
  EXPECT_EQ(forged.upgrade_status(), 401);
}

TEST_F(quiz_test, a_whole_game_through_real_sockets_with_real_tokens) {
  start();
  auto ann = player("u-ann");
  const std::string code = create(
      *ann, json::object{{"rounds", 2}, {"secondsPerQuestion", 5}, {"pack", "en-de-basics"}});
  ASSERT_EQ(code.size(), 6u);
  auto bob = player("u-bob");
  ASSERT_TRUE(bob->open(json::object{{"type", "lobby:join"}, {"code", code}}));
  ASSERT_TRUE(ann->pump_until([&] {
    auto states = of_type(ann->stream, "lobby:state");
    return !states.empty() && states.back().at("members").as_array().size() == 2;
  }));
  const json::object lobby = of_type(ann->stream, "lobby:state").back();
  EXPECT_EQ(str(lobby.at("hostUserId")), "u-ann");
  EXPECT_EQ(str(lobby.at("members").as_array()[1].at("displayName")), "Name u-bob");

  // A non-host start is refused; the host's starts the game.
  ASSERT_TRUE(bob->send(json::object{{"type", "lobby:start"}}));
  ASSERT_TRUE(ann->send(json::object{{"type", "lobby:start"}}));
  ASSERT_TRUE(bob->pump_until([&] { return !of_type(bob->stream, "game:question").empty(); }));
  bool refused = false;
  for (const json::object& f : bob->stream) {
    refused |= f.at("type") == "error" && f.at("code") == "not_host";
  }
  EXPECT_TRUE(refused);

  for (int round = 1; round <= 2; ++round) {
    ASSERT_TRUE(ann->pump_until(
        [&] { return of_type(ann->stream, "game:question").size() == std::size_t(round); }, 5s));
    ASSERT_TRUE(bob->pump_until(
        [&] { return of_type(bob->stream, "game:question").size() == std::size_t(round); }, 5s));
    const json::object question = of_type(ann->stream, "game:question").back();
    EXPECT_EQ(question.at("round").as_int64(), round);
    EXPECT_EQ(question.at("deadline").as_int64() - question.at("startedAt").as_int64(), 5000);
    EXPECT_FALSE(mentions_correct(ann->stream));
    EXPECT_FALSE(mentions_correct(bob->stream));
    const std::string id = str(question.at("questionId"));
    ASSERT_TRUE(
        ann->send(json::object{{"type", "game:answer"}, {"questionId", id}, {"optionIndex", 0}}));
    ASSERT_TRUE(
        bob->send(json::object{{"type", "game:answer"}, {"questionId", id}, {"optionIndex", 1}}));
    ASSERT_TRUE(bob->pump_until(
        [&] { return of_type(bob->stream, "game:answer_result").size() == std::size_t(round); }));
    const json::object result = of_type(bob->stream, "game:answer_result").back();
    EXPECT_EQ(str(result.at("closedBy")), "all_answered");
    const auto correct = result.at("correctOptionIndex").as_int64();
    const json::array& lines = result.at("results").as_array();
    EXPECT_EQ(lines[0].at("correct").as_bool(), correct == 0);
    EXPECT_EQ(lines[1].at("correct").as_bool(), correct == 1);
  }
  ASSERT_TRUE(ann->pump_until([&] { return !of_type(ann->stream, "game:finished").empty(); }));
  const json::array ranking = of_type(ann->stream, "game:finished").back().at("ranking").as_array();
  ASSERT_EQ(ranking.size(), 2u);
  EXPECT_EQ(ranking[0].at("rank").as_int64(), 1);

  // A second start from finished is a new game.
  ASSERT_TRUE(ann->send(json::object{{"type", "lobby:start"}}));
  ASSERT_TRUE(ann->pump_until([&] { return of_type(ann->stream, "game:question").size() == 3; }));
  EXPECT_EQ(str(of_type(ann->stream, "game:question").back().at("questionId")), "g2q1");
  EXPECT_GE(server_->metric("partyd_errors_total{game=\"quiz\",code=\"not_host\"}").value_or(0), 1);
}

TEST_F(quiz_test, after_kill_9_a_question_resumes_with_its_deadline_and_the_answers_given) {
  temp_dir dir;
  start({"--store", "file:" + dir.path() + "/data", "--snapshot-interval-ms", "50"});
  auto ann = player("u-ann");
  const std::string code = create(*ann, json::object{{"rounds", 1}, {"secondsPerQuestion", 30}});
  auto bob = player("u-bob");
  ASSERT_TRUE(bob->open(json::object{{"type", "lobby:join"}, {"code", code}}));
  ASSERT_TRUE(ann->send(json::object{{"type", "lobby:start"}}));
  ASSERT_TRUE(ann->pump_until([&] { return !of_type(ann->stream, "game:question").empty(); }));
  const json::object question = of_type(ann->stream, "game:question").back();
  const std::string id = str(question.at("questionId"));
  ASSERT_TRUE(
      ann->send(json::object{{"type", "game:answer"}, {"questionId", id}, {"optionIndex", 2}}));
  ASSERT_TRUE(bob->pump_until([&] { return !of_type(bob->stream, "game:answered").empty(); }));
  std::this_thread::sleep_for(300ms);  // an answer is an important step: written at once

  server_->signal(SIGKILL);
  ASSERT_TRUE(server_->wait_exit(5s));
  ann->drop();
  bob->drop();
  server_ = std::make_unique<test_server>(args_);
  ASSERT_TRUE(server_->started());

  session_client ann2(server_->port(), quiz_path("u-ann"));
  ann2.session_id = ann->session_id;
  ann2.resume_token = ann->resume_token;
  ann2.last_seq = ann->last_seq;
  auto resumed = ann2.resume(code);
  ASSERT_TRUE(resumed);
  ASSERT_EQ(resumed->at("type"), "RECONNECTED") << json::serialize(*resumed);
  const json::object& state = resumed->at("payload").at("gameState").as_object();
  EXPECT_EQ(str(resumed->at("payload").at("currentState")), "question");
  EXPECT_EQ(state.at("question").at("deadline"), question.at("deadline"));
  EXPECT_EQ(state.at("yourAnswer").as_int64(), 2);
  EXPECT_EQ(json::serialize(state).find("correct"), std::string::npos);

  session_client bob2(server_->port(), quiz_path("u-bob"));
  bob2.session_id = bob->session_id;
  bob2.resume_token = bob->resume_token;
  bob2.last_seq = bob->last_seq;
  auto bob_back = bob2.resume(code);
  ASSERT_TRUE(bob_back);
  ASSERT_EQ(bob_back->at("type"), "RECONNECTED");
  EXPECT_TRUE(bob_back->at("payload").at("gameState").at("yourAnswer").is_null());
  // Both are back: bob's answer is the last one and closes the question, ann's counted.
  ASSERT_TRUE(ann2.pump_until([&] {
    auto states = of_type(ann2.stream, "lobby:state");
    if (states.empty()) return false;
    for (const json::value& m : states.back().at("members").as_array()) {
      if (!m.at("connected").as_bool()) return false;
    }
    return true;
  }));
  ASSERT_TRUE(
      bob2.send(json::object{{"type", "game:answer"}, {"questionId", id}, {"optionIndex", 1}}));
  ASSERT_TRUE(ann2.pump_until([&] { return !of_type(ann2.stream, "game:answer_result").empty(); }));
  const json::object result = of_type(ann2.stream, "game:answer_result").back();
  EXPECT_EQ(str(result.at("closedBy")), "all_answered");
  const json::array& lines = result.at("results").as_array();
  EXPECT_EQ(str(lines[0].at("status")), "answered");
  EXPECT_EQ(lines[0].at("optionIndex").as_int64(), 2);
  EXPECT_EQ(lines[1].at("optionIndex").as_int64(), 1);
}

}  // namespace
}  // namespace partyd::testing
