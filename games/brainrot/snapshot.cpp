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

std::string brainrot_game::snapshot() const {
  json::object root = snapshot_read::snapshot_document(snapshot_schema, "brainrot");
  root["code"] = state_.code;
  root["master_key_hash"] = state_.master_key_hash;
  root["master_claimed"] = state_.master_claimed;
  root["created_at"] = state_.created_at;
  root["expires_at"] = state_.expires_at;

  json::array senders;
  for (const sender& s : state_.senders) {
    senders.emplace_back(json::object{{"sender_id", s.sender_id},
                                      {"name", s.name},
                                      {"active", s.active},
                                      {"reels_count", s.reels_count}});
  }
  root["senders"] = std::move(senders);
  json::array players;
  for (const player& p : state_.players) {
    players.emplace_back(json::object{
        {"player_id", p.player_id},
        {"sender_id", p.sender_id},
        {"is_sender_bound", p.is_sender_bound},
        {"active", p.active},
        {"name", p.name},
        {"avatar_url", p.avatar_url ? json::value(*p.avatar_url) : json::value(nullptr)}});
  }
  root["players"] = std::move(players);
  json::array rounds;
  for (const round& rd : state_.rounds) {
    json::array items;
    for (const item& it : rd.items) {
      items.emplace_back(json::object{{"item_id", it.item_id},
                                      {"reel_id", it.reel_id},
                                      {"url", it.url},
                                      {"true_sender_ids", strings_to_json(it.true_sender_ids)}});
    }
    rounds.emplace_back(json::object{{"round_id", rd.round_id}, {"items", std::move(items)}});
  }
  root["rounds"] = std::move(rounds);
  root["round_order"] = strings_to_json(state_.round_order);

  root["phase"] = phase_name(state_.phase);
  root["status"] = status_name(state_.status);
  root["round_index"] = static_cast<std::uint64_t>(state_.round_index);
  root["item_index"] = static_cast<std::uint64_t>(state_.item_index);
  json::object claims;
  for (const auto& [player_id, device] : state_.claims) {
    claims[player_id] = device;
  }
  root["claims"] = std::move(claims);
  json::object scores;
  for (const auto& [player_id, score] : state_.scores) {
    scores[player_id] = score;
  }
  root["scores"] = std::move(scores);
  json::object round_points;
  for (const auto& [round_id, tally] : state_.round_points) {
    json::object points;
    for (const auto& [player_id, value] : tally) {
      points[player_id] = value;
    }
    round_points[round_id] = std::move(points);
  }
  root["round_points"] = std::move(round_points);
  root["expected_voters"] = strings_to_json(state_.expected_voters);
  root["votes_received"] = strings_to_json(state_.votes_received);
  json::object votes;
  for (const auto& [player_id, selections] : state_.votes) {
    votes[player_id] = strings_to_json(selections);
  }
  root["votes"] = std::move(votes);
  root["results"] =
      state_.results ? json::value(results_json(*state_.results)) : json::value(nullptr);
  return json::serialize(root);
}

std::unique_ptr<game> brainrot_restore(const brainrot_config& config,
                                       std::string_view bytes) noexcept {
  return restore_guarded([&] { return restore_unsafe(config, bytes); });
}

}  // namespace partyd
