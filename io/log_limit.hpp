// Rate-limited log lines for events an outsider can repeat at will (a wrong admin token, a refused
// or failed accept): at most `burst` lines of the event per window reach the log, the others are
// counted (partyd_log_lines_suppressed_total{event}). Once the window of a suppressed line is
// over, one line of the same event with only `"suppressed": <count>` reports them: written before
// the event's next line, or by flush() from the io thread's sweep when no further line comes.
// Thread safety: any thread (a short mutex; these events are never on a delivery path).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "engine/log.hpp"
#include "engine/metrics.hpp"

namespace partyd {

class log_limiter {
 public:
  static constexpr std::uint32_t default_burst = 10;
  static constexpr std::int64_t default_window_ms = 1000;

  log_limiter(metrics_registry& metrics, std::string_view event, log::level at,
              std::uint32_t burst = default_burst, std::int64_t window_ms = default_window_ms)
      : event_(event),
        level_(at),
        burst_(burst),
        window_ms_(window_ms),
        suppressed_total_(metrics.get_counter("partyd_log_lines_suppressed_total",
                                              "event=\"" + event_ + "\"",
                                              "Log lines left out by the per-event rate limit")) {}

  // `now_ms`: a monotonic clock in milliseconds (steady_ms()).
  void write(std::int64_t now_ms, boost::json::object fields) {
    if (!log::enabled(level_)) {
      return;
    }
    std::uint64_t report = 0;
    bool pass = false;
    {
      std::lock_guard lock(mutex_);
      report = roll_locked(now_ms);
      if (count_ < burst_) {
        ++count_;
        pass = true;
      } else {
        ++suppressed_;
      }
    }
    if (report > 0) {
      log::write(level_, event_, {{"suppressed", report}});
    }
    if (pass) {
      log::write(level_, event_, std::move(fields));
    } else {
      suppressed_total_.inc();
    }
  }

  // Reports lines suppressed in a window that is over (io thread sweep).
  void flush(std::int64_t now_ms) {
    std::uint64_t report = 0;
    {
      std::lock_guard lock(mutex_);
      if (suppressed_ == 0) {
        return;
      }
      report = roll_locked(now_ms);
    }
    if (report > 0) {
      log::write(level_, event_, {{"suppressed", report}});
    }
  }

 private:
  // Starts a new window when the current one is over; returns the count to report.
  std::uint64_t roll_locked(std::int64_t now_ms) {
    if (now_ms - window_start_ms_ < window_ms_) {
      return 0;
    }
    window_start_ms_ = now_ms;
    count_ = 0;
    const std::uint64_t report = suppressed_;
    suppressed_ = 0;
    return report;
  }

  const std::string event_;
  const log::level level_;
  const std::uint32_t burst_;
  const std::int64_t window_ms_;
  counter& suppressed_total_;
  std::mutex mutex_;
  std::int64_t window_start_ms_ = INT64_MIN / 2;  // guarded by mutex_
  std::uint32_t count_ = 0;                       // lines written in this window
  std::uint64_t suppressed_ = 0;                  // lines left out since the last report
};

}  // namespace partyd
