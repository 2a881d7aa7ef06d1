#include "engine/metrics.hpp"

#include <cstdio>

namespace partyd {

void histogram::observe_us(std::uint64_t micros) noexcept {
  std::size_t index = 0;
  while (index < bounds_us.size() && micros > bounds_us[index]) {
    ++index;
  }
  buckets_[index].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_us_.fetch_add(micros, std::memory_order_relaxed);
}

metrics_registry::family& metrics_registry::family_for(const std::string& name, kind type,
                                                       const std::string& help) {
  auto [it, inserted] = families_.try_emplace(name);
  if (inserted) {
    it->second.type = type;
    it->second.help = help;
  }
  return it->second;
}

counter& metrics_registry::get_counter(const std::string& name, const std::string& labels,
                                       const std::string& help) {
  std::lock_guard lock(mutex_);
  auto& slot = family_for(name, kind::counter, help).counters[labels];
  if (!slot) slot = std::make_unique<counter>();
  return *slot;
}

gauge& metrics_registry::get_gauge(const std::string& name, const std::string& labels,
                                   const std::string& help) {
  std::lock_guard lock(mutex_);
  auto& slot = family_for(name, kind::gauge, help).gauges[labels];
  if (!slot) slot = std::make_unique<gauge>();
  return *slot;
}

histogram& metrics_registry::get_histogram(const std::string& name, const std::string& labels,
                                           const std::string& help) {
  std::lock_guard lock(mutex_);
  auto& slot = family_for(name, kind::histogram, help).histograms[labels];
  if (!slot) slot = std::make_unique<histogram>();
  return *slot;
}

namespace {

std::string series(const std::string& name, const std::string& labels) {
  return labels.empty() ? name : name + "{" + labels + "}";
}

std::string with_label(const std::string& labels, const std::string& extra) {
  return labels.empty() ? extra : labels + "," + extra;
}

}  // namespace

std::vector<std::pair<std::string, std::int64_t>> metrics_registry::read(
    const std::string& name) const {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<std::string, std::int64_t>> out;
  const auto it = families_.find(name);
  if (it == families_.end()) return out;
  for (const auto& [labels, c] : it->second.counters) {
    out.emplace_back(labels, static_cast<std::int64_t>(c->value()));
  }
  for (const auto& [labels, g] : it->second.gauges) {
    out.emplace_back(labels, g->value());
  }
  return out;
}

metrics_registry::histogram_totals metrics_registry::read_histogram(const std::string& name) const {
  std::lock_guard lock(mutex_);
  histogram_totals totals;
  const auto it = families_.find(name);
  if (it == families_.end()) return totals;
  for (const auto& [labels, h] : it->second.histograms) {
    for (std::size_t i = 0; i < totals.buckets.size(); ++i) totals.buckets[i] += h->bucket(i);
    totals.count += h->count();
  }
  return totals;
}

std::string metrics_registry::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  out.reserve(8192);
  for (const auto& [name, fam] : families_) {
    const char* type_name = fam.type == kind::counter ? "counter"
                            : fam.type == kind::gauge ? "gauge"
                                                      : "histogram";
    out += "# HELP " + name + " " + fam.help + "\n";
    out += "# TYPE " + name + " " + type_name + "\n";
    for (const auto& [labels, value] : fam.counters) {
      out += series(name, labels) + " " + std::to_string(value->value()) + "\n";
    }
    for (const auto& [labels, value] : fam.gauges) {
      out += series(name, labels) + " " + std::to_string(value->value()) + "\n";
    }
    for (const auto& [labels, hist] : fam.histograms) {
      std::uint64_t cumulative = 0;
      char bound[32];
      for (std::size_t i = 0; i < histogram::bounds_us.size(); ++i) {
        cumulative += hist->bucket(i);
        std::snprintf(bound, sizeof(bound), "%g",
                      static_cast<double>(histogram::bounds_us[i]) / 1e6);
        out += series(name + "_bucket", with_label(labels, std::string("le=\"") + bound + "\"")) +
               " " + std::to_string(cumulative) + "\n";
      }
      cumulative += hist->bucket(histogram::bounds_us.size());
      out += series(name + "_bucket", with_label(labels, "le=\"+Inf\"")) + " " +
             std::to_string(cumulative) + "\n";
      std::snprintf(bound, sizeof(bound), "%.6f", static_cast<double>(hist->sum_us()) / 1e6);
      out += series(name + "_sum", labels) + " " + bound + "\n";
      out += series(name + "_count", labels) + " " + std::to_string(hist->count()) + "\n";
    }
  }
  return out;
}

}  // namespace partyd
