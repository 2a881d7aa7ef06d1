// The public matchmaking queue (seed 002, sections 4.2 and 6): a standing room of the Mafia game,
// so it keeps the engine's rules (one owner thread, a bounded inbox, timers as inputs,
// deterministic steps, in the snapshot). Players wait oldest first; a group forms at once when
// match_max_players wait, after match_fill_ms when at least match_min_players do, and after
// match_max_wait_ms with at least match_fallback_players. A group asks the engine for a room
// (effects::create_room); the answer's code goes to each member (matchmaking:found) and the
// member's connection is moved there (effects::release with its room:join).
// Thread: the queue room's worker only.
#pragma once

#include <string>

#include "engine/game.hpp"
#include "games/mafia/codec.hpp"
#include "games/mafia/module.hpp"
#include "games/mafia/state.hpp"

namespace partyd {

class mafia_matchmaker final : public game {
 public:
  static constexpr std::uint64_t match_timer = 1;

  mafia_matchmaker(const mafia_config& config, mafia::queue_state state);

  void step(const input& in, time_ms now, room_rng& rng, effects& out) override;
  std::string snapshot() const override;
  room_summary summary() const noexcept override;
  session_view view_of(connection_id conn, time_ms now) const override;
  bool holds_session(connection_id conn) const override;

  const mafia::queue_state& state() const noexcept { return state_; }

 private:
  void on_join(const input& in, time_ms now, effects& out);
  void on_leave(connection_id conn, std::string_view reason, bool release, effects& out);
  void on_created(const input& in, time_ms now, effects& out);
  void try_match(time_ms now, effects& out);
  void ask_for_room(const mafia::match_group& group, effects& out) const;
  // Puts members back into the waiting list, keeping everyone's place by time queued.
  void requeue(std::vector<mafia::queued_player> members);
  void send(connection_id conn, mafia::out_type type, const boost::json::object& payload,
            effects& out) const;
  void refuse(connection_id conn, std::string_view reason, std::string_view message,
              std::string_view request_type, effects& out) const;
  boost::json::object position_of(const mafia::queued_player& p) const;

  const mafia_config& config_;
  mafia::queue_state state_;
};

std::unique_ptr<game> mafia_queue_restore(const mafia_config& config, std::string_view bytes);

}  // namespace partyd
