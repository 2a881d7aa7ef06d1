// The server's wall clock in ms since the Unix epoch. Rooms get their time as `now` from the
// runtime (a step never reads a clock); this is for what is built outside a room: the runtime's
// own `now`, and the timestamp of a game's error frames that io sends before a message reached a
// room (Alias's envelope carries the server's time in every frame).
// Thread: any.
#pragma once

#include "engine/types.hpp"

namespace partyd {

time_ms wall_clock_ms() noexcept;

}  // namespace partyd
