// Metrics registry: counters, gauges and latency histograms, rendered in the Prometheus text
// format for GET /metrics. Registration takes a lock and returns a reference that stays valid for
// the registry's life; updates are relaxed atomics, so hot paths cache the reference.
// Thread safety: every method may be called from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace partyd {

class counter {
 public:
  void inc(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class gauge {
 public:
  void add(std::int64_t n) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  void sub(std::int64_t n) noexcept { value_.fetch_sub(n, std::memory_order_relaxed); }
  void set(std::int64_t n) noexcept { value_.store(n, std::memory_order_relaxed); }
  std::int64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> value_{0};
};

// Fixed buckets in microseconds (upper bounds), rendered in seconds.
class histogram {
 public:
  static constexpr std::array<std::uint64_t, 14> bounds_us{
      5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 100000, 1000000};
  void observe_us(std::uint64_t micros) noexcept;
  std::uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
  std::uint64_t bucket(std::size_t index) const noexcept {
    return buckets_[index].load(std::memory_order_relaxed);
  }
  std::uint64_t sum_us() const noexcept { return sum_us_.load(std::memory_order_relaxed); }

 private:
  std::array<std::atomic<std::uint64_t>, bounds_us.size() + 1> buckets_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_us_{0};
};

class metrics_registry {
 public:
  // `labels` is the Prometheus label set without braces, e.g. `game="relay",role="host"`.
  counter& get_counter(const std::string& name, const std::string& labels, const std::string& help);
  gauge& get_gauge(const std::string& name, const std::string& labels, const std::string& help);
  histogram& get_histogram(const std::string& name, const std::string& labels,
                           const std::string& help);

  std::string render() const;

  // Current values of the counters or gauges of family `name`, by label set ("" without labels);
  // empty when there is no such family. For the admin API's summaries, not for hot paths.
  std::vector<std::pair<std::string, std::int64_t>> read(const std::string& name) const;
  // The buckets (bounds_us order, +Inf last) and count of every histogram of `name`, summed.
  struct histogram_totals {
    std::array<std::uint64_t, histogram::bounds_us.size() + 1> buckets{};
    std::uint64_t count = 0;
  };
  histogram_totals read_histogram(const std::string& name) const;

 private:
  enum class kind { counter, gauge, histogram };
  struct family {
    kind type;
    std::string help;
    std::map<std::string, std::unique_ptr<counter>> counters;
    std::map<std::string, std::unique_ptr<gauge>> gauges;
    std::map<std::string, std::unique_ptr<histogram>> histograms;
  };
  family& family_for(const std::string& name, kind type, const std::string& help);

  mutable std::mutex mutex_;
  std::map<std::string, family> families_;
};

}  // namespace partyd
