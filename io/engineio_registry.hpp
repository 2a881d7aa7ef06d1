// Server-wide tables of the Socket.IO edge (docs/protocol/socketio.md):
// - Engine.IO sessions by `sid`: a polling request or an upgrade may arrive on any io thread and
//   is handed to the thread its session lives on.
// - Recovery ids (`pid`) with the session-layer credentials they stand for, kept a while after
//   their connection ended so that a reconnecting client's CONNECT can resume its seat.
// Thread: any; each table is guarded by its own mutex (polling requests and connects are rare
// next to deliveries, which never touch these tables).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace partyd {

class ws_session;
struct io_thread;

struct session_credentials {
  std::string room_code;
  std::string session_id;
  std::string resume_token;  // secret: memory only, never logged
};

class engineio_registry {
 public:
  struct entry {
    std::weak_ptr<ws_session> session;
    io_thread* home = nullptr;
  };

  void add(const std::string& sid, entry e) {
    std::lock_guard lock(sessions_mutex_);
    sessions_[sid] = std::move(e);
  }
  void remove(const std::string& sid) {
    std::lock_guard lock(sessions_mutex_);
    sessions_.erase(sid);
  }
  std::optional<entry> find(const std::string& sid) const {
    std::lock_guard lock(sessions_mutex_);
    const auto it = sessions_.find(sid);
    if (it == sessions_.end()) return std::nullopt;
    return it->second;
  }
  std::size_t open_sessions() const {
    std::lock_guard lock(sessions_mutex_);
    return sessions_.size();
  }

  // A pid's credentials, valid until `expires_ms` (steady clock); 0 while its connection is open.
  void remember(const std::string& pid, session_credentials credentials) {
    std::lock_guard lock(pids_mutex_);
    pids_[pid] = {std::move(credentials), 0};
  }
  // The connection of `pid` ended: its credentials stay `keep_ms` longer.
  void release(const std::string& pid, std::int64_t now_ms, std::int64_t keep_ms) {
    std::lock_guard lock(pids_mutex_);
    const auto it = pids_.find(pid);
    if (it == pids_.end()) return;
    it->second.expires_ms = now_ms + keep_ms;
    expiry_.push_back({pid, it->second.expires_ms});
    purge_locked(now_ms);
  }
  std::optional<session_credentials> lookup(const std::string& pid, std::int64_t now_ms) {
    std::lock_guard lock(pids_mutex_);
    purge_locked(now_ms);
    const auto it = pids_.find(pid);
    if (it == pids_.end()) return std::nullopt;
    return it->second.credentials;
  }
  void forget(const std::string& pid) {
    std::lock_guard lock(pids_mutex_);
    pids_.erase(pid);
  }
  std::size_t kept_pids() const {
    std::lock_guard lock(pids_mutex_);
    return pids_.size();
  }

 private:
  struct pid_entry {
    session_credentials credentials;
    std::int64_t expires_ms = 0;
  };
  void purge_locked(std::int64_t now_ms) {
    while (!expiry_.empty() && expiry_.front().second <= now_ms) {
      const auto it = pids_.find(expiry_.front().first);
      // Only if it was not taken up again (a resumed connection clears the expiry).
      if (it != pids_.end() && it->second.expires_ms != 0 && it->second.expires_ms <= now_ms) {
        pids_.erase(it);
      }
      expiry_.pop_front();
    }
  }

  mutable std::mutex sessions_mutex_;
  std::unordered_map<std::string, entry> sessions_;
  mutable std::mutex pids_mutex_;
  std::unordered_map<std::string, pid_entry> pids_;
  std::deque<std::pair<std::string, std::int64_t>> expiry_;  // in order of release
};

}  // namespace partyd
