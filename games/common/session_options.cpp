#include "games/common/session_options.hpp"

namespace partyd {

void declare_session_options(option_list& options, std::string_view game, session_policy& policy) {
  const std::string prefix = std::string(game) + "-session-";
  options.add(prefix + "backfill-ms", policy.backfill_ms,
              "a resume this soon after the drop gets the missed frames (missedEvents)");
  options.add(prefix + "host-backfill-ms", policy.host_backfill_ms,
              "the same for the host, who must see every missed event");
  options.add(prefix + "resume-ms", policy.resume_ms,
              "a resume later than this is refused SESSION_EXPIRED (the seat is removed)");
  options.add(prefix + "host-resume-ms", policy.host_resume_ms, "the same for the host");
  options.add(prefix + "away-ms", policy.away_ms, "the game hears a dropped seat is away");
  options.add(prefix + "warning-ms", policy.warning_ms,
              "the game warns the others about a dropped seat");
  options.add(prefix + "removal-ms", policy.removal_ms,
              "a dropped seat's session ends and the game removes it");
  options.add(prefix + "ack-timeout-ms", policy.ack_timeout_ms,
              "an unacknowledged reliable frame is resent after this (twice, then degraded)");
  options.add(prefix + "heartbeat-ms", policy.heartbeat_interval_ms,
              "the heartbeat interval told to clients in CONNECTED");
  options.add(prefix + "dead-after-ms", policy.dead_after_ms,
              "a session connection silent this long is closed (1001 heartbeat_timeout)");
  options.add(prefix + "ring-frames", policy.ring_frames,
              "frames kept per session for a backfill (and at most --" + prefix + "ring-bytes)");
  options.add(prefix + "ring-bytes", policy.ring_bytes, "bytes kept per session for a backfill");
}

std::string check_session_policy(std::string_view game, const session_policy& policy) {
  const std::string flag = "--" + std::string(game) + "-session-";
  struct positive {
    const char* name;
    time_ms value;
  };
  for (const positive& p :
       {positive{"backfill-ms", policy.backfill_ms},
        positive{"host-backfill-ms", policy.host_backfill_ms}, positive{"away-ms", policy.away_ms},
        positive{"ack-timeout-ms", policy.ack_timeout_ms},
        positive{"heartbeat-ms", policy.heartbeat_interval_ms},
        positive{"dead-after-ms", policy.dead_after_ms}}) {
    if (p.value <= 0) return flag + p.name + " must be above 0";
  }
  if (policy.ring_frames == 0 || policy.ring_bytes == 0) {
    return flag + "ring-frames and " + flag + "ring-bytes must be above 0";
  }
  if (policy.backfill_ms > policy.resume_ms || policy.host_backfill_ms > policy.host_resume_ms) {
    return flag + "backfill-ms must not exceed " + flag + "resume-ms (and the same for the host)";
  }
  if (!(policy.away_ms <= policy.warning_ms && policy.warning_ms <= policy.removal_ms &&
        policy.resume_ms <= policy.removal_ms && policy.host_resume_ms <= policy.removal_ms)) {
    return flag + "away-ms <= warning-ms <= removal-ms, and both resume windows <= removal-ms";
  }
  if (policy.heartbeat_interval_ms >= policy.dead_after_ms) {
    return flag + "heartbeat-ms must be below " + flag + "dead-after-ms";
  }
  return {};
}

}  // namespace partyd
