// Mafia against the real binary (docs/protocol/mafia.md), through real sockets: a whole private
// game in which no viewer sees another's role before game:end and whose record reaches the
// history (SQLite); public matchmaking that moves its players into a room that starts itself;
// leaving and joining another room on the same socket; a seat resumed through the session layer
// and taken back by the guest token; kill -9 mid-game and between a game's end and its insert;
// and the history on a real PostgreSQL 15 with an outage during a game.
#include <signal.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "support/postgres_server.hpp"
#include "support/temp_dir.hpp"
#include "support/test_server.hpp"
#include "support/ws_client.hpp"

namespace partyd::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

std::string str(const json::value& v) { return std::string(v.as_string()); }

// One player's socket: frames in order (sequenceId stripped), the session of its current room.
struct player {
  // Connects to /ws/mafia (port 0: not yet; the test connects `ws` itself).
  explicit player(std::uint16_t port) : port_(port) {
    if (port_ != 0) ws.connect(port_, "/ws/mafia");
  }

  bool send(std::string_view type, const json::object& payload = {}) {
    return ws.send(json::object{{"type", type}, {"payload", payload}});
  }
  bool identify(std::string_view name, std::string_view use_token = {}) {
    json::object payload{{"username", name}};
    if (!use_token.empty()) payload["token"] = use_token;
    if (!send("auth:identify", payload)) return false;
    const auto ok = wait("auth:success");
    if (!ok) return false;
    user_id = str(ok->at("payload").at("userId"));
    token = str(ok->at("payload").at("token"));
    return true;
  }
  // The next frame of `type` (each type read in order, once), reading until it came.
  std::optional<json::object> wait(std::string_view type, std::chrono::milliseconds timeout = 5s) {
    return wait_any({type}, timeout);
  }
  // The next frame of any of `types` after the last one returned by wait_any.
  std::optional<json::object> wait_any(std::initializer_list<std::string_view> types,
                                       std::chrono::milliseconds timeout = 5s) {
    auto matches = [&](const json::object& f) {
      for (std::string_view t : types) {
        if (f.at("type").as_string() == t) return true;
      }
      return false;
    };
    std::size_t& from = cursor[std::string(*types.begin())];
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      for (; from < frames.size(); ++from) {
        if (matches(frames[from])) return frames[from++];
      }
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      auto f = ws.receive(100ms);
      if (f) {
        take(std::move(*f));
      } else if (!ws.is_open()) {
        return std::nullopt;
      }
    }
  }
  void drain(std::chrono::milliseconds quiet = 200ms) {
    while (auto f = ws.receive(quiet)) take(std::move(*f));
  }
  void take(json::object f) {
    if (f.at("type").as_string() == "CONNECTED") {
      session_id = str(f.at("payload").at("sessionId"));
      resume_token = str(f.at("payload").at("resumeToken"));
    }
    if (auto* n = f.if_contains("sequenceId")) {
      last_seq = n->to_number<std::uint64_t>();
      f.erase("sequenceId");
    }
    frames.push_back(std::move(f));
  }
  std::string role() const {
    for (const auto& f : frames) {
      if (f.at("type").as_string() == "game:role") return str(f.at("payload").at("role"));
    }
    return {};
  }

  std::uint16_t port_;
  ws_client ws;
  std::vector<json::object> frames;
  std::map<std::string, std::size_t> cursor;  // per first type asked for: where reading goes on
  std::string user_id, token, session_id, resume_token;
  std::uint64_t last_seq = 0;
};

// The first frame (to `p`, before its game:end) that holds another player's role.
std::string role_leak(const player& p, const std::vector<std::unique_ptr<player>>& all) {
  for (const auto& f : p.frames) {
    const std::string type(f.at("type").as_string());
    if (type == "game:end") break;
    const std::string text = json::serialize(f);
    if (type == "game:role") continue;  // its own (checked by the caller)
    if (text.find("\"role\"") != std::string::npos || text.find("\"roles\"") != std::string::npos) {
      return text;
    }
    if ((type == "action:mafiaVotes" && p.role() != "mafia") ||
        (type == "action:result" && p.role() != "detective")) {
      return text;
    }
  }
  (void)all;
  return {};
}

class mafia_test : public ::testing::Test {
 protected:
  void start(std::vector<std::string> extra = {}) {
    args_ = extra;
    server_ = std::make_unique<test_server>(args_);
    ASSERT_TRUE(server_->started());
  }
  std::unique_ptr<player> join(std::string_view name) {
    auto p = std::make_unique<player>(server_->port());
    EXPECT_TRUE(p->identify(name));
    return p;
  }
  // A private room of `n` (the first hosts, the others ready), started; returns its code.
  std::string private_game(std::vector<std::unique_ptr<player>>& players, int n,
                           json::object settings = {
                               {"nightTime", 1}, {"discussionTime", 1}, {"voteTime", 2}}) {
    for (int i = 0; i < n; ++i) players.push_back(join("Player " + std::to_string(i)));
    players[0]->send("room:create", {{"maxPlayers", 8}, {"settings", settings}});
    const auto made = players[0]->wait("room:update");
    EXPECT_TRUE(made);
    if (!made) return {};
    const std::string code = str(made->at("payload").at("roomCode"));
    for (int i = 1; i < n; ++i) {
      players[i]->send("room:join", {{"roomCode", code}});
      EXPECT_TRUE(players[i]->wait("room:update"));
      players[i]->send("room:ready");
    }
    // Everyone ready: the host's last room:update says so.
    for (int tries = 0; tries < 50; ++tries) {
      players[0]->drain(50ms);
      bool all_ready = false;
      for (auto it = players[0]->frames.rbegin(); it != players[0]->frames.rend(); ++it) {
        if (it->at("type").as_string() != "room:update") continue;
        all_ready = true;
        const auto& seats = it->at("payload").at("players").as_array();
        all_ready = seats.size() == static_cast<std::size_t>(n);
        for (std::size_t k = 1; k < seats.size(); ++k) {
          all_ready = all_ready && seats[k].at("ready").as_bool();
        }
        break;
      }
      if (all_ready) break;
    }
    players[0]->send("room:start");
    for (auto& p : players) EXPECT_TRUE(p->wait("game:role"));
    return code;
  }
  // Plays a started game to its end: each night the mafia kill the first living townsperson,
  // each vote the town votes for the first living mafia member and the mafia for the first
  // living townsperson. Deaths are read from the host's frames.
  void play_to_end(std::vector<std::unique_ptr<player>>& players) {
    std::vector<player*> mafia, town;
    for (auto& p : players) (p->role() == "mafia" ? mafia : town).push_back(p.get());
    std::set<std::string> dead;
    auto first_living = [&](const std::vector<player*>& side) -> player* {
      for (player* p : side) {
        if (!dead.count(p->user_id)) return p;
      }
      return nullptr;
    };
    player& host = *players[0];
    for (int step = 0; step < 40; ++step) {
      const auto f = host.wait_any({"game:phase", "game:end", "vote:result"}, 10s);
      ASSERT_TRUE(f) << "the game stalled";
      const std::string type(f->at("type").as_string());
      if (type == "game:end") return;
      if (type == "vote:result") {
        if (const auto& out = f->at("payload").at("eliminatedUserId"); out.is_string()) {
          dead.insert(str(out));
        }
        continue;
      }
      const std::string phase(f->at("payload").at("phase").as_string());
      if (phase == "day") {
        if (const auto& k = f->at("payload").at("killedUserId"); k.is_string()) dead.insert(str(k));
      } else if (phase == "night") {
        player* target = first_living(town);
        for (player* m : mafia) {
          if (!dead.count(m->user_id) && target) {
            m->send("action:mafiaKill", {{"targetId", target->user_id}});
          }
        }
      } else if (phase == "voting") {
        player* suspect = first_living(mafia);
        player* victim = first_living(town);
        for (auto& p : players) {
          if (dead.count(p->user_id) || !suspect || !victim) continue;
          p->send("vote:cast",
                  {{"targetId", p->role() == "mafia" ? victim->user_id : suspect->user_id}});
        }
      }
    }
    FAIL() << "no game:end after 40 phases";
  }

  std::vector<std::string> args_;
  std::unique_ptr<test_server> server_;
};

TEST_F(mafia_test, a_private_game_to_its_end_leaks_no_role_and_reaches_the_history) {
  temp_dir dir;
  start({"--history", "sqlite:" + dir.path() + "/history.sqlite3"});
  std::vector<std::unique_ptr<player>> players;
  const std::string code = private_game(players, 5);
  ASSERT_FALSE(code.empty());
  std::set<std::string> roles;
  for (auto& p : players) roles.insert(p->role());
  EXPECT_EQ(roles, (std::set<std::string>{"mafia", "detective", "doctor", "villager"}));
  play_to_end(players);
  for (auto& p : players) {
    const auto end = p->wait("game:end", 10s);
    ASSERT_TRUE(end) << p->user_id;
    EXPECT_EQ(end->at("payload").at("roles").as_object().size(), 5u);
    EXPECT_EQ(role_leak(*p, players), "") << "viewer " << p->role();
  }
  // The history has it (the writer is quick, but it is another thread).
  json::array games;
  for (int i = 0; i < 50 && games.empty(); ++i) {
    const auto listed = server_->http("GET", "/api/history/games");
    ASSERT_EQ(listed.status, 200) << listed.body;
    games = listed.json().at("games").as_array();
    if (games.empty()) std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(games.size(), 1u);
  EXPECT_EQ(str(games[0].at("roomCode")), code);
  EXPECT_EQ(games[0].at("roles").as_array().size(), 5u);
  const auto ready = server_->http("GET", "/ready", {}, std::nullopt);
  EXPECT_EQ(str(ready.json().at("historyStatus")), "ok");
}

TEST_F(mafia_test, matchmaking_moves_its_players_into_a_room_that_starts_by_itself) {
  start({"--mafia-match-fill-ms", "300", "--mafia-match-countdown-ms", "300"});
  std::vector<std::unique_ptr<player>> players;
  for (int i = 0; i < 7; ++i) {
    players.push_back(join("Queued " + std::to_string(i)));
    players.back()->send("matchmaking:join");
    ASSERT_TRUE(players.back()->wait("matchmaking:queued"));
  }
  std::string room;
  for (auto& p : players) {
    const auto found = p->wait("matchmaking:found");
    ASSERT_TRUE(found);
    if (room.empty()) room = str(found->at("payload").at("roomId"));
    EXPECT_EQ(str(found->at("payload").at("roomId")), room);
  }
  for (auto& p : players) {
    const auto update = p->wait("room:update");
    ASSERT_TRUE(update);
    EXPECT_TRUE(update->at("payload").at("matched").as_bool());
    ASSERT_TRUE(p->wait("game:role", 5s));  // no host action
  }
  EXPECT_EQ(server_->metric("partyd_game_events_total{game=\"mafia\",event=\"matches_made\"}")
                .value_or(0),
            1);
}

TEST_F(mafia_test, a_socket_leaves_one_room_and_joins_another) {
  start();
  auto a = join("Alice");
  auto b = join("Bob");
  a->send("room:create");
  const std::string first = str(a->wait("room:update")->at("payload").at("roomCode"));
  b->send("room:create");
  const std::string second = str(b->wait("room:update")->at("payload").at("roomCode"));
  a->send("room:join", {{"roomCode", second}});
  EXPECT_EQ(str(a->wait("room:error")->at("payload").at("reason")), "already_in_room");
  a->send("room:leave");
  a->send("room:join", {{"roomCode", second}});  // at once: the leave is io's business first
  const auto joined = a->wait("room:update");
  ASSERT_TRUE(joined);
  EXPECT_EQ(str(joined->at("payload").at("roomCode")), second);
  // Bad input is answered and changes nothing.
  a->ws.send_raw("{not json");
  EXPECT_EQ(str(a->wait("room:error")->at("payload").at("reason")), "invalid_json");
  a->send("room:kick", {{"userId", b->user_id}});
  EXPECT_EQ(str(a->wait("room:error")->at("payload").at("reason")), "not_host");
  auto c = std::make_unique<player>(server_->port());
  c->send("room:join", {{"roomCode", second}});  // never identified
  EXPECT_EQ(str(c->wait("room:error")->at("payload").at("reason")), "not_identified");
  c->send("room:join", {{"roomCode", "ZZZZZZ"}});
  EXPECT_EQ(str(c->wait("room:error")->at("payload").at("reason")), "room_not_found");
  EXPECT_TRUE(c->ws.is_open());  // a refused join keeps the socket
  // room:left is the last frame of a room: its broadcast of the departure goes to the others.
  a->send("room:leave");
  ASSERT_TRUE(a->wait("room:left"));
  ASSERT_TRUE(b->wait("room:update"));
  a->drain();
  std::size_t last_left = 0;
  for (std::size_t i = 0; i < a->frames.size(); ++i) {
    if (a->frames[i].at("type") == "room:left") last_left = i;
  }
  for (std::size_t i = last_left + 1; i < a->frames.size(); ++i) {
    ADD_FAILURE() << "after room:left: " << json::serialize(a->frames[i]);
  }
}

TEST_F(mafia_test, a_dropped_player_resumes_its_seat_and_a_new_tab_takes_it_by_token) {
  start();
  std::vector<std::unique_ptr<player>> players;
  const std::string code =
      private_game(players, 5, {{"nightTime", 60}, {"discussionTime", 60}, {"voteTime", 60}});
  player& dropped = *players[2];
  const std::string role = dropped.role();
  dropped.ws.drop();
  const auto away = players[0]->wait("room:update");
  ASSERT_TRUE(away);
  // Resume through the session layer: the same seat and role.
  player back(server_->port());
  ASSERT_TRUE(back.ws.send(json::object{{"type", "RECONNECT"},
                                        {"roomId", code},
                                        {"payload",
                                         {{"sessionId", dropped.session_id},
                                          {"resumeToken", dropped.resume_token},
                                          {"lastSeqId", dropped.last_seq}}}}));
  const auto resumed = back.wait("RECONNECTED");
  ASSERT_TRUE(resumed);
  EXPECT_EQ(str(resumed->at("payload").at("gameState").at("you").at("role")), role);
  // A new tab of the same user: its token names the user, room:join takes the seat back.
  player tab(server_->port());
  ASSERT_TRUE(tab.identify("Player 2 again", dropped.token));
  EXPECT_EQ(tab.user_id, dropped.user_id);
  tab.send("room:join", {{"roomCode", code}});
  const auto reconnect = tab.wait("auth:reconnect");
  ASSERT_TRUE(reconnect);
  EXPECT_EQ(str(reconnect->at("payload").at("roomId")), code);
  EXPECT_EQ(str(reconnect->at("payload").at("gameState").at("you").at("role")), role);
  EXPECT_EQ(str(back.wait("room:left")->at("payload").at("reason")), "replaced");
}

TEST_F(mafia_test, after_kill_9_a_game_goes_on_and_a_finished_game_still_reaches_the_history) {
  temp_dir dir;
  start({"--store", "file:" + dir.path() + "/data", "--snapshot-interval-ms", "50"});
  std::vector<std::unique_ptr<player>> players;
  const std::string code =
      private_game(players, 5, {{"nightTime", 60}, {"discussionTime", 60}, {"voteTime", 60}});
  std::this_thread::sleep_for(300ms);
  server_->signal(SIGKILL);
  ASSERT_TRUE(server_->wait_exit(5s));
  server_ = std::make_unique<test_server>(args_);
  ASSERT_TRUE(server_->started());
  player& p = *players[1];
  player back(server_->port());
  ASSERT_TRUE(back.ws.send(json::object{{"type", "RECONNECT"},
                                        {"roomId", code},
                                        {"payload",
                                         {{"sessionId", p.session_id},
                                          {"resumeToken", p.resume_token},
                                          {"lastSeqId", p.last_seq}}}}));
  const auto resumed = back.wait("RECONNECTED");
  ASSERT_TRUE(resumed);
  EXPECT_EQ(str(resumed->at("payload").at("gameState").at("phase")), "night");
  EXPECT_EQ(str(resumed->at("payload").at("gameState").at("you").at("role")), p.role());

  // A finished game whose record the history had not taken when the process died is written
  // after the restart: the room kept it in its snapshot. The history file is made unwritable
  // (a directory in its place) for the first run, so the insert cannot happen before the kill.
  temp_dir second;
  const std::string history = second.path() + "/h.sqlite3";
  start({"--store", "file:" + second.path() + "/data", "--snapshot-interval-ms", "50", "--history",
         "postgresql://127.0.0.1:1/none?connect_timeout=1"});
  std::vector<std::unique_ptr<player>> table;
  private_game(table, 4, {{"nightTime", 1}, {"discussionTime", 1}, {"voteTime", 1}});
  play_to_end(table);
  ASSERT_TRUE(table[0]->wait("game:end", 10s));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(str(server_->http("GET", "/ready", {}, std::nullopt).json().at("historyStatus")),
            "degraded");
  server_->signal(SIGKILL);
  ASSERT_TRUE(server_->wait_exit(5s));
  args_ = {"--store", "file:" + second.path() + "/data", "--history", "sqlite:" + history};
  server_ = std::make_unique<test_server>(args_);
  ASSERT_TRUE(server_->started());
  json::array games;
  for (int i = 0; i < 50 && games.empty(); ++i) {
    games = server_->http("GET", "/api/history/games").json().at("games").as_array();
    if (games.empty()) std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(games.size(), 1u);
}

TEST_F(mafia_test, postgresql_history_survives_an_outage_during_a_game) {
  postgres_server pg;
  ASSERT_TRUE(pg.start());
  ASSERT_TRUE(pg.create_database("partyd"));
  start({"--history", pg.url("partyd")});
  std::vector<std::unique_ptr<player>> players;
  private_game(players, 4, {{"nightTime", 1}, {"discussionTime", 1}, {"voteTime", 1}});
  pg.stop();  // the database goes away mid-game
  play_to_end(players);
  ASSERT_TRUE(players[0]->wait("game:end", 10s));
  std::this_thread::sleep_for(500ms);
  const auto ready = server_->http("GET", "/ready", {}, std::nullopt).json();
  EXPECT_EQ(str(ready.at("historyStatus")), "degraded");
  EXPECT_EQ(ready.at("historyQueue").to_number<int>(), 1);
  ASSERT_TRUE(pg.start());
  std::optional<std::string> rows;
  for (int i = 0; i < 100; ++i) {
    rows = pg.psql("partyd", "SELECT count(*) FROM games");
    if (rows && rows->find('1') != std::string::npos) break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(rows);
  EXPECT_NE(rows->find('1'), std::string::npos) << *rows;
  const auto roles = pg.psql("partyd", "SELECT count(*) FROM game_roles");
  ASSERT_TRUE(roles);
  EXPECT_NE(roles->find('4'), std::string::npos) << *roles;
}

TEST_F(mafia_test, an_identity_from_the_upgrade_wins_over_auth_identify) {
  // Development mode (no key): a game that requires authentication takes ?name= as the token.
  start({"--auth-required-games", "mafia"});
  ws_client refused;
  EXPECT_FALSE(refused.connect(server_->port(), "/ws/mafia"));
  EXPECT_EQ(refused.upgrade_status(), 401);
  player ann(0);
  ASSERT_TRUE(ann.ws.connect(server_->port(), "/ws/mafia?name=Ann"));
  ASSERT_TRUE(ann.send("auth:identify", {{"username", "Someone Else"}}));
  const auto ok = ann.wait("auth:success");
  ASSERT_TRUE(ok);
  EXPECT_EQ(str(ok->at("payload").at("userId")), "dev:Ann");
  EXPECT_FALSE(ok->at("payload").at("isGuest").as_bool());
  EXPECT_FALSE(ok->at("payload").as_object().contains("token"));
  ann.send("room:create");
  const auto made = ann.wait("room:update");
  ASSERT_TRUE(made);
  EXPECT_EQ(str(made->at("payload").at("hostId")), "dev:Ann");
}

}  // namespace
}  // namespace partyd::testing
