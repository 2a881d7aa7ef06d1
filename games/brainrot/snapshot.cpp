// Snapshot codec of the brainrot room: schema 1, JSON. Everything but the connections is written
// (content, claims, votes, results, tallies, scores, progress, times, master key hash); the output
// is a pure function of that state, so equal states give equal bytes. Restore validates every
// field and every cross-reference and returns nullptr instead of throwing.
#include <algorithm>
#include <exception>
#include <set>
#include <utility>

#include <boost/json/serialize.hpp>

#include "games/brainrot/game.hpp"
#include "games/common/json_io.hpp"
#include "games/common/json_writer.hpp"

namespace partyd {

namespace json = boost::json;
using namespace brainrot;
using namespace snapshot_read;

namespace {

constexpr std::int64_t snapshot_schema = 1;

vote_results results_from_json(const json::object& object) {
  vote_results results;
  results.round_id = as_id(field(object, "round_id"));
  results.item_id = as_id(field(object, "item_id"));
  results.true_senders = as_ids(field(object, "true_senders"));
  for (const json::value& entry : as_array(field(object, "players"))) {
    const json::object& p = as_object(entry);
    player_result r;
    r.player_id = as_id(field(p, "player_id"));
    r.selections = as_ids(field(p, "selections"));
    r.correct = as_ids(field(p, "correct"));
    r.incorrect = as_ids(field(p, "incorrect"));
    r.points_gained = as_int(field(p, "points_gained"));
    r.score_total = as_int(field(p, "score_total"));
    results.players.push_back(std::move(r));
  }
  return results;
}

std::unique_ptr<game> restore_unsafe(const brainrot_config& config, std::string_view bytes) {
  const json::value parsed = parse_document(bytes, 32);
  const json::object& root = as_object(parsed);
  require_header(root, snapshot_schema, "brainrot");
  room_state state;
  state.code = as_id(field(root, "code"));
  state.master_key_hash = as_hash(field(root, "master_key_hash"), false);
  state.master_claimed = as_bool(field(root, "master_claimed"));
  state.created_at = as_int(field(root, "created_at"));
  state.expires_at = as_int(field(root, "expires_at"));

  std::set<std::string> sender_ids;
  for (const json::value& entry : as_array(field(root, "senders"))) {
    const json::object& object = as_object(entry);
    sender s;
    s.sender_id = as_id(field(object, "sender_id"));
    s.name = as_string(field(object, "name"));
    s.active = as_bool(field(object, "active"));
    s.reels_count = as_int(field(object, "reels_count"));
    require(sender_ids.insert(s.sender_id).second);
    state.senders.push_back(std::move(s));
  }
  std::set<std::string> player_ids;
  for (const json::value& entry : as_array(field(root, "players"))) {
    const json::object& object = as_object(entry);
    player p;
    p.player_id = as_id(field(object, "player_id"));
    p.sender_id = as_id(field(object, "sender_id"));
    p.is_sender_bound = as_bool(field(object, "is_sender_bound"));
    p.active = as_bool(field(object, "active"));
    p.name = as_string(field(object, "name"));
    const json::value& avatar = field(object, "avatar_url");
    if (!avatar.is_null()) {
      p.avatar_url = as_string(avatar);
    }
    require(sender_ids.contains(p.sender_id) && player_ids.insert(p.player_id).second);
    state.players.push_back(std::move(p));
  }
  std::set<std::string> round_ids;
  for (const json::value& entry : as_array(field(root, "rounds"))) {
    const json::object& object = as_object(entry);
    round rd;
    rd.round_id = as_id(field(object, "round_id"));
    std::set<std::string> item_ids;
    for (const json::value& item_entry : as_array(field(object, "items"))) {
      const json::object& io = as_object(item_entry);
      item it;
      it.item_id = as_id(field(io, "item_id"));
      it.reel_id = as_id(field(io, "reel_id"));
      it.url = as_string(field(io, "url"));
      it.true_sender_ids = as_ids(field(io, "true_sender_ids"));
      require(!it.true_sender_ids.empty() && item_ids.insert(it.item_id).second);
      for (const std::string& id : it.true_sender_ids) {
        require(sender_ids.contains(id));
      }
      rd.items.push_back(std::move(it));
    }
    require(!rd.items.empty() && round_ids.insert(rd.round_id).second);
    state.rounds.push_back(std::move(rd));
  }
  state.round_order = as_ids(field(root, "round_order"));
  require(!state.rounds.empty() && state.round_order.size() == state.rounds.size() &&
          std::set<std::string>(state.round_order.begin(), state.round_order.end()) == round_ids);

  std::optional<brainrot::phase> ph = parse_phase(as_string(field(root, "phase")));
  std::optional<brainrot::status> st = parse_status(as_string(field(root, "status")));
  require(ph.has_value() && st.has_value());
  state.phase = *ph;
  state.status = *st;
  state.round_index = static_cast<std::size_t>(as_int(field(root, "round_index")));
  state.item_index = static_cast<std::size_t>(as_int(field(root, "item_index")));
  require(state.round_index < state.round_order.size());
  for (const round& rd : state.rounds) {
    if (rd.round_id == state.round_order[state.round_index]) {
      require(state.item_index < rd.items.size());
    }
  }

  for (const auto& [player_id, device] : as_object(field(root, "claims"))) {
    require(player_ids.contains(std::string(player_id)));
    state.claims.emplace(std::string(player_id), as_id(device));
  }
  for (const auto& [player_id, score] : as_object(field(root, "scores"))) {
    require(player_ids.contains(std::string(player_id)));
    state.scores.emplace(std::string(player_id), as_int(score));
  }
  for (const auto& [round_id, tally] : as_object(field(root, "round_points"))) {
    require(round_ids.contains(std::string(round_id)));
    auto& points = state.round_points[std::string(round_id)];
    for (const auto& [player_id, value] : as_object(tally)) {
      require(player_ids.contains(std::string(player_id)));
      points.emplace(std::string(player_id), as_int(value));
    }
  }
  state.expected_voters = as_ids(field(root, "expected_voters"));
  state.votes_received = as_ids(field(root, "votes_received"));
  for (const std::string& id : state.expected_voters) {
    require(player_ids.contains(id));
  }
  for (const auto& [player_id, selections] : as_object(field(root, "votes"))) {
    require(player_ids.contains(std::string(player_id)));
    state.votes.emplace(std::string(player_id), as_ids(selections));
  }
  require(state.votes.size() == state.votes_received.size());
  for (const std::string& id : state.votes_received) {
    require(state.votes.contains(id));
  }
  const json::value& results = field(root, "results");
  if (!results.is_null()) {
    state.results = results_from_json(as_object(results));
  }
  return std::make_unique<brainrot_game>(config, std::move(state));
}

}  // namespace

// Written member by member (games/common/json_writer), as the relay's: a snapshot follows every
// vote, and a json::object allocated once per member.
std::string brainrot_game::snapshot() const {
  const auto strings = [](json_writer& w, const std::vector<std::string>& items) {
    w.begin_array();
    for (const std::string& item : items) {
      w.string(item);
    }
    w.end_array();
  };
  json_writer w(1024);
  w.begin_object();
  w.member("schema", snapshot_schema).member("game", "brainrot");
  w.member("code", state_.code).member("master_key_hash", state_.master_key_hash);
  w.member("master_claimed", state_.master_claimed);
  w.member("created_at", state_.created_at).member("expires_at", state_.expires_at);

  w.key("senders").begin_array();
  for (const sender& s : state_.senders) {
    w.begin_object();
    w.member("sender_id", s.sender_id).member("name", s.name).member("active", s.active);
    w.member("reels_count", s.reels_count);
    w.end_object();
  }
  w.end_array();
  w.key("players").begin_array();
  for (const player& p : state_.players) {
    w.begin_object();
    w.member("player_id", p.player_id).member("sender_id", p.sender_id);
    w.member("is_sender_bound", p.is_sender_bound).member("active", p.active);
    w.member("name", p.name).key("avatar_url");
    if (p.avatar_url) {
      w.string(*p.avatar_url);
    } else {
      w.null();
    }
    w.end_object();
  }
  w.end_array();
  w.key("rounds").begin_array();
  for (const round& rd : state_.rounds) {
    w.begin_object().member("round_id", rd.round_id).key("items").begin_array();
    for (const item& it : rd.items) {
      w.begin_object();
      w.member("item_id", it.item_id).member("reel_id", it.reel_id).member("url", it.url);
      w.key("true_sender_ids");
      strings(w, it.true_sender_ids);
      w.end_object();
    }
    w.end_array().end_object();
  }
  w.end_array();
  w.key("round_order");
  strings(w, state_.round_order);

  w.member("phase", phase_name(state_.phase)).member("status", status_name(state_.status));
  w.member("round_index", static_cast<std::uint64_t>(state_.round_index));
  w.member("item_index", static_cast<std::uint64_t>(state_.item_index));
  w.key("claims").begin_object();
  for (const auto& [player_id, device] : state_.claims) {
    w.member(player_id, device);
  }
  w.end_object();
  w.key("scores").begin_object();
  for (const auto& [player_id, score] : state_.scores) {
    w.member(player_id, score);
  }
  w.end_object();
  w.key("round_points").begin_object();
  for (const auto& [round_id, tally] : state_.round_points) {
    w.key(round_id).begin_object();
    for (const auto& [player_id, value] : tally) {
      w.member(player_id, value);
    }
    w.end_object();
  }
  w.end_object();
  w.key("expected_voters");
  strings(w, state_.expected_voters);
  w.key("votes_received");
  strings(w, state_.votes_received);
  w.key("votes").begin_object();
  for (const auto& [player_id, selections] : state_.votes) {
    w.key(player_id);
    strings(w, selections);
  }
  w.end_object();
  w.key("results");
  if (state_.results) {
    w.raw(json::serialize(results_json(*state_.results)));
  } else {
    w.null();
  }
  w.end_object();
  return w.take();
}

std::unique_ptr<game> brainrot_restore(const brainrot_config& config,
                                       std::string_view bytes) noexcept {
  return restore_guarded([&] { return restore_unsafe(config, bytes); });
}

}  // namespace partyd
