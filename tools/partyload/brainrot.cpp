// partyload: the brainrot scenario. R rooms, each on one io thread, play whole games in a loop:
// the master connects and sends CREATE_ROOM; each device connects and sends JOIN_ROOM, then
// TAKE_PLAYER and RENAME_PLAYER; once every player is renamed the master sends START_GAME; for
// every item REEL_OPENED, every device SUBMIT_VOTE, then END_ITEM (and START_NEXT_ROUND after a
// round's last item); after GAME_OVER the master sends ROOM_CLOSED, the server closes every
// socket and the room starts over with new connections. Every action of a client waits a think
// time first (uniform in [0.5, 1.5] x --think-ms). Latency per command: "reply" = request to the
// sender's own answer, "broadcast" = request to the copies the other clients receive.
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <random>

#include <boost/asio/steady_timer.hpp>

#include "room_loop.hpp"
#include "ws_conn.hpp"

namespace partyload {
namespace {

enum class action {
  none,
  create,
  join,
  take,
  rename,
  start_game,
  reel_opened,
  vote,
  end_item,
  next_round,
  close_room
};

class br_room;

class br_client final : public ws_conn {
 public:
  br_client(br_room& room, int index);

  void schedule(action a);
  void halt() {
    timer_.cancel();
    next_ = action::none;
    stop();
  }
  void reset_game() {
    timer_.cancel();
    next_ = action::none;
    pending_ = command::count;
    take_ns_ = rename_ns_ = 0;
    lobby_done_ = false;
  }

  std::int64_t take_ns_ = 0;
  std::int64_t rename_ns_ = 0;

 private:
  void act(action a);
  void on_open() override;
  void on_frame(std::string_view frame) override;
  void on_closed(bool expected) override;
  void master_frame(std::string_view type, std::string_view frame, std::int64_t now);
  void device_frame(std::string_view type, std::string_view frame, std::int64_t now);
  void protocol_error(std::string_view type, std::string_view frame);

  // Starts a frame {"type":T,"payload":{"code":"...", and (master) "master_key":"..."
  std::string& begin(std::string_view type);
  void finish_send(std::string& text, command c);
  void reply(command c, std::int64_t now);
  void broadcast(command c, std::int64_t sent_ns, std::int64_t now);

  br_room& room_;
  int index_;  // 0 = master, 1..n = devices
  net::steady_timer timer_;
  action next_ = action::none;
  command pending_ = command::count;
  std::int64_t pending_ns_ = 0;
  bool lobby_done_ = false;
  int votes_ = 0;
  std::string round_id_;
  std::string item_id_;
  std::string scratch_;
};

// A brainrot room: the master (client 0) and its devices.
class br_room : public room_base<br_room, br_client> {
 public:
  br_room(runner& r, int thread, int number) : room_base(r, thread, number * 7919 + 17) {
    build_create_payload();
    for (int i = 0; i <= r.opt.players; ++i) {
      clients_.push_back(std::make_unique<br_client>(*this, i));
    }
  }

  const std::string& create_payload() const { return create_payload_; }

  // A new game in a new room: the master connects and creates it.
  void open_room() {
    last_progress_ns = mono_ns();
    code.clear();
    key.clear();
    renamed = 0;
    closed = 0;
    new_item_cause = command::start_game;
    for (auto& ns : cmd_ns) ns = 0;
    for (auto& c : clients_) c->reset_game();
    clients_[0]->schedule(action::create);
  }

  // Replaces room_base's: something went wrong mid-game (counted already), so every socket is
  // dropped and a new game starts at once.
  void abort_room() {
    for (auto& c : clients_) c->drop();
    open_room();
  }

  std::string key;
  int renamed = 0;
  int closed = 0;
  std::int64_t cmd_ns[command_count] = {};
  command new_item_cause = command::start_game;
  std::int64_t last_vote_ns = 0;
  std::string round_id;
  std::string item_id;

 private:
  // n senders s1..sn (one per device); rounds r1.. of items i1.., each with one true sender.
  static std::string id(const char* prefix, int number) {
    std::string out(prefix);
    out += std::to_string(number);
    return out;
  }

  void build_create_payload() {
    const int n = r().opt.players;
    json::array senders;
    for (int s = 1; s <= n; ++s) {
      senders.emplace_back(json::object{{"sender_id", id("s", s)},
                                        {"name", id("Sender ", s)},
                                        {"active", true},
                                        {"reels_count", 1}});
    }
    json::array rounds;
    int k = 0;
    for (int rd = 1; rd <= r().opt.game_rounds; ++rd) {
      json::array items;
      for (int it = 1; it <= r().opt.game_items; ++it, ++k) {
        items.emplace_back(json::object{
            {"item_id", id("i", it)},
            {"reel", {{"reel_id", id("reel-", k)}, {"url", id("https://reels.invalid/", k)}}},
            {"true_sender_ids", json::array{json::string(id("s", k % n + 1))}}});
      }
      rounds.emplace_back(json::object{{"round_id", id("r", rd)}, {"items", std::move(items)}});
    }
    create_payload_ = json::serialize(json::object{
        {"type", "CREATE_ROOM"},
        {"payload", {{"senders", std::move(senders)}, {"rounds", std::move(rounds)}}}});
  }

  std::string create_payload_;
};

br_client::br_client(br_room& room, int index)
    : ws_conn(room.context(), room.counters(), room.r().run),
      room_(room),
      index_(index),
      timer_(room.context()) {}

void br_client::schedule(action a) {
  if (stopped()) return;
  next_ = a;
  // --think-ms 0: no pause, and no draw from the room's random sequence.
  const std::int64_t delay = room_.r().opt.think_ms > 0 ? room_.think_ns() : 0;
  timer_.expires_after(std::chrono::nanoseconds(delay));
  timer_.async_wait([this, a](boost::system::error_code ec) {
    if (ec || stopped() || next_ != a) return;
    next_ = action::none;
    act(a);
  });
}

std::string& br_client::begin(std::string_view type) {
  std::string& text = next_frame();
  text = "{\"type\":\"";
  text += type;
  text += "\",\"payload\":{\"code\":\"";
  text += room_.code;
  text += '"';
  if (index_ == 0) {
    text += ",\"master_key\":\"";
    text += room_.key;
    text += '"';
  } else {
    text += ",\"device_id\":\"dev-";
    text += std::to_string(index_);
    text += "\",\"player_id\":\"p_s";
    text += std::to_string(index_);
    text += '"';
  }
  return text;
}

void br_client::finish_send(std::string& text, command c) {
  text += "}}";
  pending_ = c;
  pending_ns_ = mono_ns();
  if (index_ == 0) room_.cmd_ns[static_cast<int>(c)] = pending_ns_;
  if (c == command::take_player) take_ns_ = pending_ns_;
  if (c == command::rename_player) rename_ns_ = pending_ns_;
  histogram::bump(shard_.actions);
  commit();
}

void br_client::act(action a) {
  switch (a) {
    case action::none:
      return;
    case action::create:
    case action::join:
      // A new connection; on_open sends CREATE_ROOM or JOIN_ROOM.
      connect(room_.r().endpoints, room_.r().opt.host, "/ws/brainrot");
      return;
    case action::take:
      return finish_send(begin("TAKE_PLAYER"), command::take_player);
    case action::rename: {
      std::string& text = begin("RENAME_PLAYER");
      text += ",\"new_name\":\"Player ";
      text += std::to_string(index_);
      text += '"';
      return finish_send(text, command::rename_player);
    }
    case action::start_game:
      room_.new_item_cause = command::start_game;
      return finish_send(begin("START_GAME"), command::start_game);
    case action::reel_opened:
    case action::end_item: {
      std::string& text = begin(a == action::reel_opened ? "REEL_OPENED" : "END_ITEM");
      text += ",\"round_id\":\"";
      text += room_.round_id;
      text += "\",\"item_id\":\"";
      text += room_.item_id;
      text += '"';
      if (a == action::end_item) room_.new_item_cause = command::end_item;
      return finish_send(text, a == action::reel_opened ? command::reel_opened : command::end_item);
    }
    case action::vote: {
      std::string& text = begin("SUBMIT_VOTE");
      text += ",\"round_id\":\"";
      text += round_id_;
      text += "\",\"item_id\":\"";
      text += item_id_;
      text += "\",\"selections\":[\"s";
      text += std::to_string((index_ + votes_++) % room_.players() + 1);
      text += "\"]";
      room_.last_vote_ns = mono_ns();
      return finish_send(text, command::submit_vote);
    }
    case action::next_round:
      room_.new_item_cause = command::start_next_round;
      return finish_send(begin("START_NEXT_ROUND"), command::start_next_round);
    case action::close_room:
      return finish_send(begin("ROOM_CLOSED"), command::room_closed);
  }
}

void br_client::on_open() {
  if (index_ == 0) {
    send(room_.create_payload());
    pending_ = command::create_room;
    pending_ns_ = mono_ns();
    histogram::bump(shard_.actions);
  } else {
    finish_send(begin("JOIN_ROOM"), command::join_room);
  }
}

void br_client::reply(command c, std::int64_t now) {
  if (pending_ != c) return;
  shard_.reply[static_cast<int>(c)].record(now - pending_ns_);
  pending_ = command::count;
}

void br_client::broadcast(command c, std::int64_t sent_ns, std::int64_t now) {
  if (sent_ns > 0) shard_.broadcast[static_cast<int>(c)].record(now - sent_ns);
}

void br_client::on_frame(std::string_view frame) {
  const std::int64_t now = mono_ns();
  room_.last_progress_ns = now;
  const std::string_view type = frame_type(frame);
  if (type == "ERROR" || type == "TAKE_PLAYER_FAIL" || type == "SLOT_INVALIDATED") {
    return protocol_error(type, frame);
  }
  if (type == "PLAYER_UPDATE") {
    // A take (no sender_updated) or a rename, by the device that holds player_id p_s<i>.
    const std::string_view player = string_field(frame, "player_id");
    int who = 0;
    if (player.size() > 3) {
      std::from_chars(player.data() + 3, player.data() + player.size(), who);
    }
    if (who <= 0 || who > room_.players()) return protocol_error("bad_player_update", frame);
    const bool rename = frame.find("\"sender_updated\"") != std::string_view::npos;
    if (who == index_) {
      if (rename) reply(command::rename_player, now);
      return;
    }
    br_client& sender = room_.client(who);
    broadcast(rename ? command::rename_player : command::take_player,
              rename ? sender.rename_ns_ : sender.take_ns_, now);
    if (index_ == 0 && rename && ++room_.renamed == room_.players()) schedule(action::start_game);
    return;
  }
  if (index_ == 0) return master_frame(type, frame, now);
  device_frame(type, frame, now);
}

void br_client::master_frame(std::string_view type, std::string_view frame, std::int64_t now) {
  if (type == "ROOM_CREATED") {
    reply(command::create_room, now);
    room_.code.assign(string_field(frame, "code"));
    room_.key.assign(string_field(frame, "master_key"));
    if (room_.code.empty() || room_.key.empty()) return protocol_error("bad_room_created", frame);
    for (int i = 1; i <= room_.players(); ++i) room_.client(i).schedule(action::join);
  } else if (type == "GAME_START") {
    reply(command::start_game, now);
  } else if (type == "NEW_ITEM") {
    reply(room_.new_item_cause, now);
    room_.round_id.assign(string_field(frame, "round_id"));
    room_.item_id.assign(string_field(frame, "item_id"));
    schedule(action::reel_opened);
  } else if (type == "START_VOTE") {
    reply(command::reel_opened, now);
  } else if (type == "VOTE_RESULTS") {
    broadcast(command::submit_vote, room_.last_vote_ns, now);
    schedule(action::end_item);
  } else if (type == "ROUND_RECAP") {
    reply(command::end_item, now);
    schedule(action::next_round);
  } else if (type == "GAME_OVER") {
    reply(command::start_next_round, now);
    histogram::bump(shard_.games);
    schedule(action::close_room);
  } else if (type == "ROOM_CLOSED_BROADCAST") {
    reply(command::room_closed, now);
    expect_close();
  }
}

void br_client::device_frame(std::string_view type, std::string_view frame, std::int64_t now) {
  const auto sent = [&](command c) { return room_.cmd_ns[static_cast<int>(c)]; };
  if (type == "JOIN_OK") {
    reply(command::join_room, now);
    schedule(action::take);
  } else if (type == "TAKE_PLAYER_OK") {
    reply(command::take_player, now);
    schedule(action::rename);
  } else if (type == "GAME_START") {
    broadcast(command::start_game, sent(command::start_game), now);
  } else if (type == "NEW_ITEM") {
    if (room_.new_item_cause != command::start_game) {
      broadcast(room_.new_item_cause, sent(room_.new_item_cause), now);
    }
  } else if (type == "START_VOTE") {
    broadcast(command::reel_opened, sent(command::reel_opened), now);
    round_id_.assign(string_field(frame, "round_id"));
    item_id_.assign(string_field(frame, "item_id"));
    schedule(action::vote);
  } else if (type == "VOTE_ACK") {
    reply(command::submit_vote, now);
    if (frame.find("\"accepted\":true") == std::string_view::npos) {
      scratch_ = "vote_rejected:";
      scratch_ += string_field(frame, "reason");
      error(scratch_);
    }
  } else if (type == "ROUND_FINISHED") {
    broadcast(command::end_item, sent(command::end_item), now);
  } else if (type == "GAME_OVER") {
    broadcast(command::start_next_round, sent(command::start_next_round), now);
  } else if (type == "ROOM_CLOSED_BROADCAST") {
    broadcast(command::room_closed, sent(command::room_closed), now);
    expect_close();
  }
}

void br_client::protocol_error(std::string_view type, std::string_view frame) {
  scratch_.assign(type);
  for (const char* field : {"error", "message", "reason"}) {
    const auto value = string_field(frame, field);
    if (!value.empty()) {
      scratch_ += ':';
      scratch_ += value;
    }
  }
  if (!run_.log_frame()) return error(scratch_);
  std::fprintf(stderr, "brainrot: %.*s\n",
               static_cast<int>(std::min<std::size_t>(frame.size(), 300)), frame.data());
  error(scratch_);
}

void br_client::on_closed(bool expected) {
  timer_.cancel();
  next_ = action::none;
  if (run_.stopping.load(std::memory_order_relaxed)) return;
  if (!expected) return room_.abort_room();
  if (++room_.closed == room_.players() + 1) room_.open_room();
}

}  // namespace

void run_brainrot(runner& r, json::object& result) {
  const options& opt = r.opt;
  // A room without any frame for max(10 s, 5 think times) counts a game_stalled error and starts
  // a new game.
  const auto stall_ns = static_cast<std::int64_t>(std::max(10e9, 5 * opt.think_ms * 1e6));
  room_set<br_room> rooms(r, stall_ns,
                          [&r](int t, int i) { return std::make_unique<br_room>(r, t, i); });
  const long rss_before = opt.server_pid ? rss_kib(opt.server_pid) : -1;
  r.start();
  r.begin_window();
  rooms.start();
  std::uint64_t last_actions = 0;
  const double elapsed_run = r.progress(
      opt.duration_s, [] { return false; },
      [&] {
        const auto actions = r.sum(&shard::actions);
        double p99 = 0;
        for (int c = 0; c < command_count; ++c) {
          p99 = std::max(p99, r.merged(&shard::reply, static_cast<command>(c)).p99_ms);
        }
        char line[192];
        std::snprintf(line, sizeof line, "games=%llu actions/s=%llu worst_reply_p99=%.2fms",
                      static_cast<unsigned long long>(r.sum(&shard::games)),
                      static_cast<unsigned long long>(actions - last_actions), p99);
        last_actions = actions;
        return std::string(line);
      });
  const double elapsed = r.end_window(result);
  if (opt.server_pid) {
    result["server_rss_kib_before"] = rss_before;
    result["server_rss_kib_after"] = rss_kib(opt.server_pid);
  }
  (void)elapsed_run;
  r.finish([&rooms](int t) { rooms.halt(t); });

  const auto games = r.sum(&shard::games);
  const auto frames = r.sum(&shard::frames_in);
  print_latency_header();
  json::object latency;
  for (int c = 0; c < command_count; ++c) {
    const auto cmd = static_cast<command>(c);
    const summary reply = r.merged(&shard::reply, cmd);
    const summary bcast = r.merged(&shard::broadcast, cmd);
    const std::string name = command_name(cmd);
    print_latency_row(name + " reply", reply);
    if (bcast.count > 0) print_latency_row(name + " broadcast", bcast);
    json::object entry{{"reply", to_json(reply)}};
    if (bcast.count > 0) entry["broadcast"] = to_json(bcast);
    latency[name] = std::move(entry);
  }
  const double games_per_minute = 60.0 * static_cast<double>(games) / elapsed;
  std::fprintf(stderr, "games completed %llu (%.1f per minute), frames received/s %.0f\n",
               static_cast<unsigned long long>(games), games_per_minute,
               static_cast<double>(frames) / elapsed);
  result["rooms"] = opt.rooms;
  result["players"] = opt.players;
  result["think_ms"] = opt.think_ms;
  result["ramp_s"] = opt.ramp_s;
  result["game_rounds"] = opt.game_rounds;
  result["game_items"] = opt.game_items;
  result["connections"] = opt.rooms * (opt.players + 1);
  result["duration_s"] = elapsed;
  result["games_completed"] = games;
  result["games_per_minute"] = games_per_minute;
  result["actions_per_s"] = static_cast<double>(r.sum(&shard::actions)) / elapsed;
  result["delivered_per_s"] = static_cast<double>(frames) / elapsed;
  result["latency"] = std::move(latency);
}

}  // namespace partyload
