#include "games/brainrot/reply_size.hpp"

#include <algorithm>

#include "games/common/text.hpp"

namespace partyd::brainrot {

namespace {

// Generous counts of the fixed text around the variable parts (keys, braces, commas, booleans,
// status words), each rounded up.
constexpr std::size_t frame_bytes = 1024;        // envelope, code, phase, game keys, master_key
constexpr std::size_t player_entry_bytes = 112;  // keys of a players_visible / players_all entry
constexpr std::size_t sender_entry_bytes = 80;   // keys of a senders_visible / senders_all entry
constexpr std::size_t selectable_bytes = 32;     // keys of a senders_selectable entry
constexpr std::size_t result_entry_bytes = 160;  // keys and numbers of a VOTE_RESULTS entry
constexpr std::size_t item_bytes = 320;          // keys of an item, its results and the game object
constexpr std::size_t number_bytes = 21;         // an int64 and a separator
// A name after a rename: name_max_chars code points, each at most 6 bytes (\u00XX) in JSON.
constexpr std::size_t bytes_per_name_char = 6;

}  // namespace

std::size_t avatar_bytes(const std::optional<std::string>& avatar) noexcept {
  return avatar ? json_string_bytes(*avatar) : 4;  // null
}

std::size_t largest_reply_bound(const brainrot_config& config, const room_state& state) noexcept {
  const std::size_t renamed = 2 + bytes_per_name_char * config.name_max_chars;
  std::size_t longest_player_id = 0;
  std::size_t longest_sender_id = 0;
  std::size_t total = frame_bytes;

  for (const player& p : state.players) {
    const std::size_t id = json_string_bytes(p.player_id);
    const std::size_t name = std::max(json_string_bytes(p.name), renamed);
    longest_player_id = std::max(longest_player_id, id);
    // players_visible and players_all, each with the avatar.
    total += 2 * (player_entry_bytes + id + json_string_bytes(p.sender_id) + name +
                  avatar_bytes(p.avatar_url));
    // scores, votes_received_player_ids, a VOTE_RESULTS / ROUND_RECAP / GAME_OVER line.
    total += (id + number_bytes) + (id + 1) + (result_entry_bytes + id);
  }
  for (const sender& s : state.senders) {
    const std::size_t id = json_string_bytes(s.sender_id);
    const std::size_t name = std::max(json_string_bytes(s.name), renamed);
    longest_sender_id = std::max(longest_sender_id, id);
    // senders_visible, senders_all and the item's senders_selectable.
    total += 2 * (sender_entry_bytes + id + name + number_bytes) + (selectable_bytes + id + name);
  }
  total += longest_player_id;  // my_player_id

  // The current item, largest of all: its ids and reel, its true senders, and in the results
  // every player's selections, each at most k sender ids, listed again as correct or incorrect.
  std::size_t largest_item = 0;
  for (const round& rd : state.rounds) {
    const std::size_t round_id = json_string_bytes(rd.round_id);
    for (const item& it : rd.items) {
      const std::size_t k = it.true_sender_ids.size();
      const std::size_t ids = k * (longest_sender_id + 1);
      const std::size_t size = item_bytes + 3 * round_id + 2 * json_string_bytes(it.item_id) +
                               json_string_bytes(it.reel_id) + json_string_bytes(it.url) +
                               number_bytes + ids + 2 * ids * state.players.size();
      largest_item = std::max(largest_item, size);
    }
  }
  return total + largest_item;
}

}  // namespace partyd::brainrot
