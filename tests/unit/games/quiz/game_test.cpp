// The quiz's rules on a manual clock (docs/protocol/quiz.md): lobby, settings, every timer edge,
// scoring and tie-break, disconnects, and that no viewer sees an answer before its result.
#include <algorithm>
#include <string>

#include <gtest/gtest.h>

#include "quiz_harness.hpp"

namespace partyd::quiz::testing {
namespace {

constexpr connection_id ann = 1;
constexpr connection_id bob = 2;
constexpr connection_id cat = 3;

// A lobby of ann (host), bob and cat, 3 rounds of 10 s.
quiz_room lobby_of_three(quiz_config config = {}) {
  quiz_room room(std::move(config), json::object{{"rounds", 3}, {"secondsPerQuestion", 10}});
  room.join(ann, "u-ann");
  room.join(bob, "u-bob");
  room.join(cat, "u-cat");
  return room;
}

std::optional<json::object> question_of(const step_outcome& s) {
  return first_of(frames_for(s, ann), "game:question");
}

TEST(QuizLobby, FirstJoinerOfAnAdminLobbyIsHostAndEveryoneGetsTheState) {
  quiz_room room;
  const step_outcome first = room.join(ann, "u-ann");
  ASSERT_EQ(first.of_kind(effect_kind::bind).size(), 1u);
  const step_outcome second = room.join(bob, "u-bob");
  const auto frames = frames_for(second, bob);
  const std::optional<json::object> state = first_of(frames, "lobby:state");
  ASSERT_TRUE(state);
  EXPECT_EQ(str(state->at("code")), room_code);
  EXPECT_EQ(str(state->at("hostUserId")), "u-ann");
  EXPECT_EQ(str(state->at("status")), "waiting");
  const json::array& members = state->at("members").as_array();
  ASSERT_EQ(members.size(), 2u);
  EXPECT_TRUE(members[0].at("isHost").as_bool());
  EXPECT_EQ(str(members[1].at("displayName")), "Name of u-bob");
  EXPECT_GE(state->at("packs").as_array().size(), 2u);
  EXPECT_TRUE(second.broadcasts().size() == 1);  // the sender included
}

TEST(QuizLobby, LobbyCreateAsFirstMessageMakesItsSenderHost) {
  quiz_module module;
  const decode_result decoded =
      module.decode(R"({"type":"lobby:create","settings":{"rounds":4}})", true);
  ASSERT_FALSE(decoded.error);
  ASSERT_TRUE(decoded.creates_room);
  create_result created = module.create(decoded.create_options, "ABCDEF");
  ASSERT_FALSE(created.error);
  partyd::testing::game_driver driver(module, std::move(created.instance), t0);
  input in;
  in.conn = 9;
  in.cmd = module.decode(R"({"type":"lobby:create","settings":{"rounds":4}})", true).cmd;
  in.identity = std::make_shared<const connection_identity>(connection_identity{"u-h", "Host"});
  const step_outcome s = driver.step(in);
  const auto frames = frames_for(s, 9);
  const std::optional<json::object> state = first_of(frames, "lobby:state");
  ASSERT_TRUE(state);
  EXPECT_EQ(str(state->at("hostUserId")), "u-h");
  EXPECT_EQ(state->at("settings").at("rounds").as_int64(), 4);
}

TEST(QuizLobby, DoubleJoinChangesNothingAndAnswersTheSenderAsTheFirstDid) {
  quiz_room room;
  room.join(ann, "u-ann");
  const step_outcome again = room.send(ann, R"({"type":"lobby:join","code":"quiz42"})");
  EXPECT_TRUE(again.unchanged);
  EXPECT_TRUE(again.broadcasts().empty());
  const auto frames = again.to(ann);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(str(frames[0].at("type")), "lobby:state");
  EXPECT_EQ(frames[0].at("members").as_array().size(), 1u);
}

TEST(QuizLobby, TheSameUserOnANewConnectionTakesItsSeatAndTheOldOneIsClosed) {
  quiz_room room;
  room.join(ann, "u-ann");
  const step_outcome moved = room.join(7, "u-ann");
  ASSERT_NE(moved.close_of(ann), nullptr);
  EXPECT_EQ(moved.close_of(ann)->close_code, 4001);
  EXPECT_EQ(room.game().state().members.size(), 1u);
  EXPECT_EQ(room.game().state().members[0].conn, 7u);
}

TEST(QuizLobby, NewPlayersAreRefusedWhenFullOrWhileAGameRuns) {
  quiz_config config;
  config.max_players = 2;
  quiz_room room(config);
  room.join(ann, "u-ann");
  room.join(bob, "u-bob");
  const step_outcome full = room.join(cat, "u-cat");
  ASSERT_NE(full.close_of(cat), nullptr);
  EXPECT_EQ(str(full.to(cat).at(0).at("code")), "lobby_full");
  EXPECT_TRUE(full.of_kind(effect_kind::bind).empty());

  room.start(ann);
  const step_outcome late = room.join(4, "u-dan");
  EXPECT_EQ(str(late.to(4).at(0).at("code")), "game_in_progress");
  EXPECT_EQ(late.close_of(4)->close_code, 1008);
}

TEST(QuizLobby, OnlyTheHostChangesSettingsAndStarts) {
  quiz_room room = lobby_of_three();
  const step_outcome settings = room.settings(bob, R"({"rounds":2})");
  EXPECT_EQ(str(settings.to(bob).at(0).at("code")), "not_host");
  EXPECT_EQ(str(settings.to(bob).at(0).at("requestType")), "lobby:settings");
  EXPECT_TRUE(settings.unchanged);
  const step_outcome start = room.start(bob);
  EXPECT_EQ(str(start.to(bob).at(0).at("code")), "not_host");
  EXPECT_EQ(room.game().state().phase, status::waiting);
}

TEST(QuizLobby, LeavingPassesTheHostOnAndTheLastLeaveClosesTheLobby) {
  quiz_room room = lobby_of_three();
  const step_outcome left = room.send(ann, R"({"type":"lobby:leave"})");
  ASSERT_NE(left.close_of(ann), nullptr);
  EXPECT_EQ(left.close_of(ann)->close_code, 1000);
  EXPECT_EQ(room.game().state().host_user_id, "u-bob");
  room.send(bob, R"({"type":"lobby:leave"})");
  const step_outcome last = room.send(cat, R"({"type":"lobby:leave"})");
  EXPECT_EQ(last.of_kind(effect_kind::close_room).size(), 1u);
}

TEST(QuizLobby, ADisconnectOutsideAGameRemovesThePlayer) {
  quiz_room room = lobby_of_three();
  const step_outcome away = room.presence(bob, presence_stage::away);
  EXPECT_FALSE(room.game().state().members[1].connected);
  EXPECT_EQ(away.broadcasts().size(), 1u);
  room.disconnect(bob);
  EXPECT_EQ(room.game().state().members.size(), 2u);
  room.disconnect(ann);
  EXPECT_EQ(room.game().state().host_user_id, "u-cat");
}

TEST(QuizSettings, AreValidatedWithTheFieldThatIsWrong) {
  quiz_room room = lobby_of_three();
  const step_outcome too_many = room.settings(ann, R"({"rounds":51})");
  EXPECT_EQ(too_many.decode_error.code, "invalid_settings");
  EXPECT_NE(too_many.decode_error.message.find("settings.rounds"), std::string::npos);

  const step_outcome decode = room.settings(ann, R"({"secondsPerQuestion":4})");
  EXPECT_EQ(decode.decode_error.code, "invalid_settings");
  EXPECT_NE(decode.decode_error.message.find("settings.secondsPerQuestion"), std::string::npos);

  const step_outcome bad_question = room.settings(
      ann,
      R"({"customPack":{"name":"Mine","questions":[{"prompt":"2+2?","options":["4"],"correctIndex":0}]}})");
  EXPECT_NE(bad_question.decode_error.message.find("settings.customPack.questions[0].options"),
            std::string::npos);
  const step_outcome misspelled = room.settings(
      ann,
      R"({"customPack":{"name":"Mine","questions":[{"prompt":"2+2?","options":["4","5"],"correct":0}]}})");
  EXPECT_NE(misspelled.decode_error.message.find("settings.customPack.questions[0].correct"),
            std::string::npos);
  EXPECT_EQ(room.game().state().config.rounds, 3u);
}

TEST(QuizSettings, ACustomPackIsSelectedShortensTheGameAndItsQuestionsStayPrivate) {
  quiz_room room = lobby_of_three();
  const step_outcome set = room.settings(ann, R"({"customPack":{"name":"Mine","questions":[
        {"prompt":"Secret prompt one","options":["alpha-answer","beta"],"correctIndex":0},
        {"prompt":"Secret prompt two","options":["gamma","delta-answer"],"correctIndex":1}]}})");
  ASSERT_FALSE(set.decode_error) << set.decode_error.message;
  EXPECT_EQ(room.game().state().config.pack_id, "custom");
  EXPECT_EQ(room.game().state().config.rounds, 2u);  // 3 rounds do not fit a 2-question pack
  for (const effect& e : set.effects) {
    if (!e.frame) continue;
    EXPECT_EQ(e.frame->find("Secret prompt"), std::string::npos) << *e.frame;
    EXPECT_EQ(e.frame->find("answer"), std::string::npos) << *e.frame;
  }
  const std::optional<json::object> state = first_of(frames_for(set, bob), "lobby:state");
  ASSERT_TRUE(state);
  EXPECT_EQ(state->at("settings").at("customPack").at("questionCount").as_int64(), 2);
  const step_outcome too_many = room.settings(ann, R"({"rounds":3})");
  EXPECT_EQ(str(too_many.to(ann).at(0).at("code")), "invalid_settings");
}

TEST(QuizGame, StartAsksTheFirstQuestionWithItsAbsoluteDeadline) {
  quiz_room room = lobby_of_three();
  const step_outcome started = room.start(ann);
  const std::optional<json::object> q = question_of(started);
  ASSERT_TRUE(q);
  EXPECT_EQ(str(q->at("questionId")), "g1q1");
  EXPECT_EQ(q->at("round").as_int64(), 1);
  EXPECT_EQ(q->at("totalRounds").as_int64(), 3);
  EXPECT_EQ(q->at("startedAt").as_int64(), t0);
  EXPECT_EQ(q->at("deadline").as_int64(), t0 + 10000);
  EXPECT_EQ(room.driver().timers().at(quiz_game::close_timer_key), t0 + 10000);
  bool reliable = false;
  for (const effect* e : started.of_kind(effect_kind::send_roles)) {
    if (e->frame->find("game:question") != std::string::npos) reliable = e->reliable;
  }
  EXPECT_TRUE(reliable);
  EXPECT_TRUE(started.important());  // held until stored: who plays, the drawn questions
  room.advance(1000);
  const step_outcome answered = room.answer(bob, room.question_id(), 0);
  EXPECT_FALSE(answered.important());  // written at once, not waited for
  EXPECT_EQ(answered.of_kind(effect_kind::persist).size(), 1u);
}

TEST(QuizGame, ASecondStartWhileTheGameRunsIsIgnoredAndCounted) {
  quiz_room room = lobby_of_three();
  room.start(ann);
  const step_outcome again = room.start(ann);
  EXPECT_TRUE(again.unchanged);
  EXPECT_EQ(again.count_of("start_ignored"), 1u);
  EXPECT_TRUE(again.to(ann).empty());
  EXPECT_EQ(room.game().state().game.round, 1u);
}

TEST(QuizGame, AnAnswerOneMillisecondBeforeTheDeadlineCounts) {
  quiz_room room = lobby_of_three();
  room.start(ann);
  room.advance(9999);
  const std::string id = room.question_id();
  const step_outcome s = room.answer(bob, id, static_cast<int>(room.correct()));
  EXPECT_TRUE(s.to(bob).empty());
  const std::optional<json::object> answered = first_of(frames_for(s, ann), "game:answered");
  ASSERT_TRUE(answered);
  EXPECT_EQ(answered->at("answered").as_int64(), 1);
  EXPECT_EQ(answered->at("expected").as_int64(), 3);
  const auto closed = room.advance(1);
  ASSERT_EQ(closed.size(), 1u);
  const std::optional<json::object> result =
      first_of(frames_for(closed[0], ann), "game:answer_result");
  ASSERT_TRUE(result);
  EXPECT_EQ(str(result->at("closedBy")), "timer");
  EXPECT_EQ(result->at("closedAt").as_int64(), t0 + 10000);
  const json::array& lines = result->at("results").as_array();
  EXPECT_EQ(str(lines[1].at("status")), "answered");
  EXPECT_TRUE(lines[1].at("correct").as_bool());
  EXPECT_EQ(lines[1].at("answerMs").as_int64(), 9999);
  EXPECT_EQ(str(lines[0].at("status")), "no_answer");
}

TEST(QuizGame, AnAnswerAfterTheTimerClosedTheQuestionIsLate) {
  quiz_room room = lobby_of_three();
  room.start(ann);
  const std::string id = room.question_id();
  const std::vector<step_outcome> fired = room.advance(10000);
  ASSERT_EQ(fired.size(), 1u);
  const step_outcome late = room.answer(bob, id, 0);
  EXPECT_EQ(str(late.to(bob).at(0).at("code")), "late");
  EXPECT_TRUE(late.unchanged);
  EXPECT_EQ(room.game().state().game.answers.count("u-bob"), 0u);
}

// The engine may hand the room an answer stamped at the deadline before the timer's own input:
// the room's clock decides, so the answer closes the question (by the timer) and is late.
TEST(QuizGame, AnAnswerAtTheDeadlineAheadOfTheTimerClosesTheQuestionAndIsLate) {
  quiz_room room = lobby_of_three();
  room.start(ann);
  const std::string id = room.question_id();
  // The same room at its deadline with the timer still pending: restored into a driver whose
  // clock starts there (advance() would fire the timer first).
  std::unique_ptr<partyd::game> restored = room.module().restore(room.game().snapshot());
  ASSERT_TRUE(restored);
  partyd::testing::game_driver at_deadline(room.module(), std::move(restored), t0 + 10000);
  for (connection_id c : {ann, bob, cat}) {
    input back;
    back.kind = input_kind::presence;
    back.conn = c;
    back.stage = presence_stage::back;
    at_deadline.step(back);
  }
  input answer_in;
  answer_in.conn = bob;
  answer_in.cmd =
      room.module()
          .decode("{\"type\":\"game:answer\",\"questionId\":\"" + id + "\",\"optionIndex\":0}",
                  false)
          .cmd;
  const step_outcome s = at_deadline.step(answer_in);
  const auto frames = frames_for(s, bob);
  ASSERT_GE(frames.size(), 2u);
  EXPECT_EQ(str(frames[0].at("type")), "game:answer_result");
  EXPECT_EQ(str(frames[0].at("closedBy")), "timer");
  EXPECT_EQ(str(frames[0].at("results").as_array()[1].at("status")), "no_answer");
  EXPECT_EQ(str(frames.back().at("code")), "late");
  EXPECT_FALSE(s.unchanged);
}

TEST(QuizGame, TheLastAnswerClosesEarlyThenThreeSecondsLaterTheNextQuestion) {
  quiz_room room = lobby_of_three();
  room.start(ann);
  room.advance(2000);
  const std::string id = room.question_id();
  room.answer(ann, id, static_cast<int>(room.correct()));
  room.answer(bob, id, static_cast<int>(room.wrong()));
  const step_outcome last = room.answer(cat, id, static_cast<int>(room.correct()));
  const std::optional<json::object> result = first_of(frames_for(last, ann), "game:answer_result");
  ASSERT_TRUE(result);
  EXPECT_EQ(str(result->at("closedBy")), "all_answered");
  EXPECT_EQ(result->at("nextQuestionAt").as_int64(), t0 + 2000 + 3000);
  EXPECT_EQ(room.driver().timers().count(quiz_game::close_timer_key), 0u);
  EXPECT_EQ(room.driver().timers().at(quiz_game::next_timer_key), t0 + 5000);
  EXPECT_TRUE(room.advance(2999).empty());
  const auto next = room.advance(1);
  ASSERT_EQ(next.size(), 1u);
  const std::optional<json::object> q = question_of(next[0]);
  ASSERT_TRUE(q);
  EXPECT_EQ(str(q->at("questionId")), "g1q2");
  EXPECT_EQ(q->at("deadline").as_int64(), t0 + 5000 + 10000);
}

TEST(QuizGame, TheLastAnswerRacingTheTimerClosesOnceAndTheTimerThenDoesNothing) {
  quiz_room room = lobby_of_three();
  room.start(ann);
  room.advance(9999);
  const std::string id = room.question_id();
  room.answer(ann, id, 0);
  room.answer(bob, id, 0);
  room.answer(cat, id, 0);  // closes at deadline - 1
  const step_outcome stale = room.fire_timer(quiz_game::close_timer_key);
  EXPECT_TRUE(stale.unchanged);
  EXPECT_TRUE(stale.effects.empty());
  EXPECT_EQ(room.game().state().phase, status::result);
}

TEST(QuizGame, NobodyAnsweringScoresZeroAndTheLastResultFinishesTheGameInTheSameStep) {
  quiz_room room = lobby_of_three();
  room.start(ann);
  std::vector<step_outcome> steps = room.advance(10000);  // q1 closes
  steps = room.advance(3000);                             // q2
  steps = room.advance(10000);                            // q2 closes
  steps = room.advance(3000);                             // q3
  steps = room.advance(10000);                            // q3 closes: last
  ASSERT_EQ(steps.size(), 1u);
  const auto frames = frames_for(steps[0], ann);
  const std::optional<json::object> result = first_of(frames, "game:answer_result");
  const std::optional<json::object> finished = first_of(frames, "game:finished");
  ASSERT_TRUE(result);
  ASSERT_TRUE(finished);
  EXPECT_TRUE(result->at("nextQuestionAt").is_null());
  for (const json::value& line : result->at("results").as_array()) {
    EXPECT_EQ(str(line.at("status")), "no_answer");
    EXPECT_EQ(line.at("points").as_int64(), 0);
  }
  for (const json::value& entry : finished->at("ranking").as_array()) {
    EXPECT_EQ(entry.at("rank").as_int64(), 1);  // all tied at 0 points, 0 ms
    EXPECT_EQ(entry.at("score").as_int64(), 0);
  }
  EXPECT_EQ(room.game().state().phase, status::finished);
  EXPECT_TRUE(room.driver().timers().empty());
}

TEST(QuizGame, TiesAreBrokenByTheSumOfCorrectAnswerTimesAndFullTiesShareARank) {
  quiz_room room(quiz_config{}, json::object{{"rounds", 1}, {"secondsPerQuestion", 10}});
  room.join(ann, "u-ann");
  room.join(bob, "u-bob");
  room.join(cat, "u-cat");
  room.join(4, "u-dan");
  room.start(ann);
  const std::string id = room.question_id();
  const int right = static_cast<int>(room.correct());
  room.advance(1000);
  room.answer(bob, id, right);  // 1000 ms
  room.answer(cat, id, right);  // 1000 ms: tied with bob
  room.advance(500);
  room.answer(ann, id, right);  // 1500 ms
  const step_outcome last = room.answer(4, id, static_cast<int>(room.wrong()));
  const std::optional<json::object> finished = first_of(frames_for(last, ann), "game:finished");
  ASSERT_TRUE(finished);
  const json::array& ranking = finished->at("ranking").as_array();
  ASSERT_EQ(ranking.size(), 4u);
  EXPECT_EQ(str(ranking[0].at("userId")), "u-bob");
  EXPECT_EQ(ranking[0].at("rank").as_int64(), 1);
  EXPECT_EQ(str(ranking[1].at("userId")), "u-cat");
  EXPECT_EQ(ranking[1].at("rank").as_int64(), 1);
  EXPECT_EQ(str(ranking[2].at("userId")), "u-ann");
  EXPECT_EQ(ranking[2].at("rank").as_int64(), 3);
  EXPECT_EQ(ranking[2].at("correctMs").as_int64(), 1500);
  EXPECT_EQ(str(ranking[3].at("userId")), "u-dan");
  EXPECT_EQ(ranking[3].at("rank").as_int64(), 4);
}

TEST(QuizGame, ADisconnectedPlayerCountsAsNoAnswerAndDoesNotHoldTheQuestionOpen) {
  quiz_room room = lobby_of_three();
  room.start(ann);
  const std::string id = room.question_id();
  room.answer(ann, id, 0);
  room.answer(bob, id, 0);
  const step_outcome away = room.presence(cat, presence_stage::away);
  const std::optional<json::object> result = first_of(frames_for(away, ann), "game:answer_result");
  ASSERT_TRUE(result);  // the connected ones have all answered
  EXPECT_EQ(str(result->at("results").as_array()[2].at("status")), "disconnected");
  // Back within the session window: the seat plays on with its score.
  room.presence(cat, presence_stage::back);
  EXPECT_TRUE(room.game().state().members[2].connected);
  // A session that ends mid-game keeps the seat until the game is over.
  room.disconnect(cat);
  EXPECT_EQ(room.game().state().members.size(), 3u);
  room.advance(3000);
  room.advance(10000);
  room.advance(3000);
  room.advance(10000);
  EXPECT_EQ(room.game().state().phase, status::finished);
  EXPECT_EQ(room.game().state().members.size(), 2u);
}

TEST(QuizGame, HostDisconnectDoesNotStopTheGame) {
  quiz_room room = lobby_of_three();
  room.start(ann);
  room.presence(ann, presence_stage::away);
  room.disconnect(ann);
  const auto closed = room.advance(10000);
  ASSERT_EQ(closed.size(), 1u);
  const auto next = room.advance(3000);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_TRUE(question_of(next[0]));
}

TEST(QuizGame, WrongAnswersAreRefusedWithTheirCodes) {
  quiz_room room = lobby_of_three();
  const step_outcome none = room.answer(bob, "g1q1", 0);
  EXPECT_EQ(str(none.to(bob).at(0).at("code")), "no_question");
  room.start(ann);
  const std::string id = room.question_id();
  EXPECT_EQ(str(room.answer(bob, "g1q9", 0).to(bob).at(0).at("code")), "wrong_question");
  EXPECT_EQ(str(room.answer(bob, id, 5).to(bob).at(0).at("code")), "invalid_option");
  room.answer(bob, id, 0);
  const step_outcome twice = room.answer(bob, id, 1);
  EXPECT_EQ(str(twice.to(bob).at(0).at("code")), "already_answered");
  EXPECT_TRUE(twice.unchanged);
  EXPECT_EQ(room.game().state().game.answers.at("u-bob").option_index, 0u);
}

TEST(QuizGame, AFinishedLobbyStartsAgainWithNewQuestionIds) {
  quiz_room room(quiz_config{}, json::object{{"rounds", 1}, {"secondsPerQuestion", 5}});
  room.join(ann, "u-ann");
  room.start(ann);
  room.advance(5000);
  EXPECT_EQ(room.game().state().phase, status::finished);
  room.settings(ann, R"({"rounds":2})");
  const step_outcome again = room.start(ann);
  const std::optional<json::object> q = question_of(again);
  ASSERT_TRUE(q);
  EXPECT_EQ(str(q->at("questionId")), "g2q1");
  EXPECT_EQ(q->at("totalRounds").as_int64(), 2);
}

TEST(QuizGame, QuestionOrderAndOptionsFollowTheRoomSeed) {
  auto prompts = [](std::uint64_t seed) {
    quiz_room room(quiz_config{}, json::object{{"rounds", 10}}, seed);
    room.join(ann, "u-ann");
    room.start(ann);
    std::vector<std::string> out;
    for (const quiz::question& q : room.game().state().game.questions) {
      out.push_back(q.prompt + "/" + q.options[0]);
    }
    return out;
  };
  EXPECT_EQ(prompts(11), prompts(11));
  EXPECT_NE(prompts(11), prompts(12));
  const auto ten = prompts(11);
  EXPECT_EQ(std::set<std::string>(ten.begin(), ten.end()).size(), 10u);  // no repeats
}

// Private is private: until a question's result, no frame to any viewer and no viewer state
// carries its correct option; after the result, everyone has it.
TEST(QuizPrivacy, NoViewerSeesTheCorrectOptionBeforeTheResult) {
  quiz_room room = lobby_of_three();
  std::vector<step_outcome> before;
  before.push_back(room.start(ann));
  const std::string id = room.question_id();
  before.push_back(room.answer(ann, id, 0));
  before.push_back(room.join(ann + 10, "u-bob"));  // bob's seat on a new connection: catch-up
  for (const step_outcome& s : before) {
    for (const effect& e : s.effects) {
      if (!e.frame) continue;
      EXPECT_EQ(e.frame->find("correct"), std::string::npos) << *e.frame;
    }
  }
  for (connection_id viewer : {ann, ann + 10, cat}) {
    const session_view view = room.game().view_of(viewer, 0);
    ASSERT_FALSE(view.state_json.empty());
    EXPECT_EQ(view.state_json.find("correct"), std::string::npos) << view.state_json;
    EXPECT_EQ(view.phase, "question");
  }
  // The viewer's own answer is in its own view only.
  EXPECT_NE(room.game().view_of(ann, 0).state_json.find("\"yourAnswer\":0"), std::string::npos);
  EXPECT_NE(room.game().view_of(cat, 0).state_json.find("\"yourAnswer\":null"), std::string::npos);
  const auto closed = room.advance(10000);
  ASSERT_EQ(closed.size(), 1u);
  for (connection_id viewer : {ann, ann + 10, cat}) {
    EXPECT_NE(room.game().view_of(viewer, 0).state_json.find("correctOptionIndex"),
              std::string::npos);
  }
}

TEST(QuizSessions, TheChecksumIsTheDocumentedFnv1aOfTheCriticalFields) {
  quiz_room room;
  room.join(ann, "u-ann");
  // docs/protocol/quiz.md: FNV-1a 32 of "waiting|0||0|0||u-ann:1;".
  EXPECT_EQ(room.game().checksum_of(ann), "9a1afe55");
}

TEST(QuizSessions, ChecksumsFollowTheCriticalFieldsAndEveryViewerHasAState) {
  quiz_room room = lobby_of_three();
  const std::string waiting = room.game().checksum_of(ann);
  EXPECT_EQ(waiting.size(), 8u);
  EXPECT_EQ(room.game().checksum_of(ann), room.game().view_of(ann, 0).checksum);
  room.start(ann);
  const std::string asked = room.game().checksum_of(ann);
  EXPECT_NE(asked, waiting);
  room.answer(bob, room.question_id(), 0);
  EXPECT_NE(room.game().checksum_of(ann), asked);
  EXPECT_TRUE(room.game().view_of(99, 0).state_json.empty());
  EXPECT_TRUE(room.game().holds_session(bob));
  EXPECT_FALSE(room.game().holds_session(99));
}

TEST(QuizSnapshot, RoundTripsInEveryPhaseAndRestoredSeatsComeBackWithTheirSessions) {
  quiz_room room = lobby_of_three();
  room.settings(ann, R"({"customPack":{"name":"Mine","questions":[
      {"prompt":"One","options":["a","b","c"],"correctIndex":2,"difficulty":"hard"},
      {"prompt":"Two","options":["d","e"],"correctIndex":0},
      {"prompt":"Three","options":["f","g"],"correctIndex":1}]}})");
  room.restore();
  room.presence(ann, presence_stage::back);
  room.presence(bob, presence_stage::back);
  room.presence(cat, presence_stage::back);
  room.start(ann);
  const std::string id = room.question_id();
  room.advance(1234);
  room.answer(bob, id, static_cast<int>(room.correct()));
  room.restore();  // mid-question, with an answer given
  EXPECT_EQ(room.game().state().game.answers.at("u-bob").answered_at, t0 + 1234);
  for (const quiz::member& m : room.game().state().members) EXPECT_FALSE(m.connected);
  const step_outcome back = room.presence(bob, presence_stage::back);
  EXPECT_EQ(back.broadcasts().size(), 1u);
  // The deadline survives: the engine fires the kept timer and the question closes by it.
  const step_outcome closed = room.fire_timer(quiz_game::close_timer_key);
  const std::optional<json::object> result =
      first_of(frames_for(closed, bob), "game:answer_result");
  ASSERT_TRUE(result);
  EXPECT_EQ(str(result->at("results").as_array()[1].at("status")), "answered");
  EXPECT_EQ(str(result->at("results").as_array()[0].at("status")), "disconnected");
  room.restore();  // in the pause after a result
  room.fire_timer(quiz_game::next_timer_key);
  EXPECT_EQ(room.game().state().game.round, 2u);
}

TEST(QuizSnapshot, CorruptSnapshotsAreRefused) {
  quiz_room room = lobby_of_three();
  room.start(ann);
  const std::string bytes = room.game().snapshot();
  EXPECT_TRUE(room.module().restore(bytes));
  EXPECT_FALSE(room.module().restore(bytes.substr(0, bytes.size() / 2)));
  std::string wrong_status = bytes;
  wrong_status.replace(wrong_status.find("\"question\""), 10, "\"asking!!\"");
  EXPECT_FALSE(room.module().restore(wrong_status));
  std::string bad_round = bytes;
  bad_round.replace(bad_round.find("\"round\":1"), 9, "\"round\":9");
  EXPECT_FALSE(room.module().restore(bad_round));
}

TEST(QuizPacks, ShippedPacksAreAtLeastTwoOfFiftyQuestions) {
  const auto& packs = shipped_packs();
  ASSERT_GE(packs.size(), 2u);
  for (const pack& p : packs) {
    EXPECT_GE(p.questions.size(), 50u) << p.id;
    for (const question& q : p.questions) {
      EXPECT_LT(q.correct_index, q.options.size());
    }
  }
  EXPECT_NE(find_shipped_pack("en-es-basics"), nullptr);
}

TEST(QuizCodec, FirstMessagesAndMalformedMessagesGetDocumentedErrors) {
  quiz_module module;
  EXPECT_EQ(module.decode(R"({"type":"game:answer","questionId":"g1q1","optionIndex":0})", true)
                .error.code,
            "not_in_lobby");
  EXPECT_EQ(module.decode("not json", false).error.code, "invalid_message");
  EXPECT_EQ(module.decode(R"({"type":"lobby:dance"})", false).error.code, "unknown_type");
  EXPECT_EQ(module.decode(R"({"type":"lobby:join"})", true).error.code, "invalid_field");
  const decode_result no_option =
      module.decode(R"({"type":"game:answer","questionId":"g1q1"})", false);
  EXPECT_EQ(no_option.error.code, "invalid_field");
  EXPECT_EQ(no_option.request_type, "game:answer");
  EXPECT_EQ(module.decode(R"({"type":"game:answer","questionId":"g1q1","optionIndex":1.5})", false)
                .error.code,
            "invalid_field");
  const decode_result join = module.decode(R"({"type":"lobby:join","code":"abc123"})", true);
  EXPECT_EQ(join.room_code, "ABC123");
  EXPECT_EQ(module.decode(R"({"type":"lobby:settings","settings":{"colour":1}})", false).error.code,
            "invalid_settings");
  const json::object error =
      json::parse(module.encode_request_error("x", "y", "lobby:start")).as_object();
  EXPECT_EQ(str(error.at("type")), "error");
  EXPECT_EQ(str(error.at("requestType")), "lobby:start");
}

}  // namespace
}  // namespace partyd::quiz::testing
