#include "engine/metrics.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace partyd {
namespace {

struct sample {
  std::string name;
  std::string labels;
  double value = 0;
};

// A strict-enough reader of the Prometheus text format (version 0.0.4): every line is a HELP,
// a TYPE or a sample; HELP and TYPE come once per family, before its samples.
struct exposition {
  std::map<std::string, std::string> types;
  std::map<std::string, std::string> helps;
  std::vector<sample> samples;

  static exposition parse(const std::string& text) {
    exposition out;
    EXPECT_TRUE(text.empty() || text.back() == '\n');
    static const std::regex help_line(R"re(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*))re");
    static const std::regex type_line(
        R"re(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped))re");
    static const std::regex sample_line(
        R"re(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*)\})? ([-+0-9.eE]+|\+Inf|-Inf|NaN))re");
    std::istringstream lines(text);
    std::string line;
    std::smatch m;
    while (std::getline(lines, line)) {
      if (std::regex_match(line, m, help_line)) {
        EXPECT_TRUE(out.helps.emplace(m[1], m[2]).second) << "second HELP for " << m[1];
      } else if (std::regex_match(line, m, type_line)) {
        EXPECT_TRUE(out.types.emplace(m[1], m[2]).second) << "second TYPE for " << m[1];
      } else if (std::regex_match(line, m, sample_line)) {
        sample s{m[1], m[3], std::strtod(std::string(m[4]).c_str(), nullptr)};
        EXPECT_TRUE(out.types.count(family_of(s.name, out.types))) << "no TYPE before " << line;
        out.samples.push_back(s);
      } else {
        ADD_FAILURE() << "not a Prometheus line: '" << line << "'";
      }
    }
    return out;
  }

  static std::string family_of(const std::string& name,
                               const std::map<std::string, std::string>& types) {
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string s(suffix);
      if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
        const std::string base = name.substr(0, name.size() - s.size());
        auto it = types.find(base);
        if (it != types.end() && it->second == "histogram") {
          return base;
        }
      }
    }
    return name;
  }

  const sample* find(const std::string& name, const std::string& labels) const {
    for (const auto& s : samples) {
      if (s.name == name && s.labels == labels) {
        return &s;
      }
    }
    return nullptr;
  }
};

TEST(metrics, registration_returns_the_same_series_for_the_same_name_and_labels) {
  metrics_registry registry;
  counter& a = registry.get_counter("x_total", "k=\"1\"", "help");
  counter& b = registry.get_counter("x_total", "k=\"1\"", "other help is ignored");
  counter& c = registry.get_counter("x_total", "k=\"2\"", "help");
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &c);
  a.inc();
  b.inc(4);
  EXPECT_EQ(a.value(), 5u);
  EXPECT_EQ(c.value(), 0u);
}

TEST(metrics, counters_and_gauges_render_as_prometheus_text) {
  metrics_registry registry;
  registry.get_counter("partyd_requests_total", "", "Requests").inc(7);
  registry.get_counter("partyd_messages_total", "game=\"relay\",type=\"a\"", "Messages").inc(2);
  registry.get_counter("partyd_messages_total", "game=\"relay\",type=\"b\"", "Messages").inc(3);
  gauge& rooms = registry.get_gauge("partyd_rooms", "game=\"relay\"", "Open rooms");
  rooms.add(5);
  rooms.sub(7);
  EXPECT_EQ(rooms.value(), -2);
  const std::string text = registry.render();
  const auto parsed = exposition::parse(text);
  EXPECT_EQ(parsed.types.at("partyd_requests_total"), "counter");
  EXPECT_EQ(parsed.types.at("partyd_messages_total"), "counter");
  EXPECT_EQ(parsed.types.at("partyd_rooms"), "gauge");
  EXPECT_EQ(parsed.helps.at("partyd_rooms"), "Open rooms");
  ASSERT_TRUE(parsed.find("partyd_requests_total", ""));
  EXPECT_EQ(parsed.find("partyd_requests_total", "")->value, 7);
  EXPECT_EQ(parsed.find("partyd_messages_total", "game=\"relay\",type=\"b\"")->value, 3);
  EXPECT_EQ(parsed.find("partyd_rooms", "game=\"relay\"")->value, -2);
  EXPECT_NE(text.find("partyd_requests_total 7\n"), std::string::npos);
  rooms.set(11);
  EXPECT_NE(registry.render().find("partyd_rooms{game=\"relay\"} 11\n"), std::string::npos);
}

TEST(metrics, histogram_buckets_are_cumulative_and_end_with_the_count) {
  metrics_registry registry;
  histogram& h = registry.get_histogram("partyd_step_latency_seconds", "worker=\"0\"", "Steps");
  const std::vector<std::uint64_t> observations{0,   5,    6,      10,      99,      100,
                                                101, 2500, 999999, 1000000, 1000001, 50000000};
  std::uint64_t sum = 0;
  for (auto us : observations) {
    h.observe_us(us);
    sum += us;
  }
  EXPECT_EQ(h.count(), observations.size());
  EXPECT_EQ(h.sum_us(), sum);
  const auto parsed = exposition::parse(registry.render());
  EXPECT_EQ(parsed.types.at("partyd_step_latency_seconds"), "histogram");
  std::vector<std::pair<double, double>> buckets;  // (le, cumulative count)
  double inf_count = -1;
  for (const auto& s : parsed.samples) {
    if (s.name != "partyd_step_latency_seconds_bucket") continue;
    const std::regex le(R"re(worker="0",le="([^"]+)")re");
    std::smatch m;
    ASSERT_TRUE(std::regex_match(s.labels, m, le)) << s.labels;
    if (m[1] == "+Inf") {
      inf_count = s.value;
    } else {
      buckets.emplace_back(std::strtod(std::string(m[1]).c_str(), nullptr), s.value);
    }
  }
  ASSERT_EQ(buckets.size(), histogram::bounds_us.size());
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    EXPECT_DOUBLE_EQ(buckets[i].first, static_cast<double>(histogram::bounds_us[i]) / 1e6);
    // Cumulative: the count of observations <= the bound.
    std::uint64_t expected = 0;
    for (auto us : observations) expected += us <= histogram::bounds_us[i];
    EXPECT_EQ(buckets[i].second, static_cast<double>(expected)) << "le " << buckets[i].first;
    if (i > 0) {
      EXPECT_GE(buckets[i].second, buckets[i - 1].second);
    }
  }
  EXPECT_EQ(inf_count, static_cast<double>(observations.size()));
  const sample* count = parsed.find("partyd_step_latency_seconds_count", "worker=\"0\"");
  const sample* total = parsed.find("partyd_step_latency_seconds_sum", "worker=\"0\"");
  ASSERT_TRUE(count && total);
  EXPECT_EQ(count->value, inf_count);
  EXPECT_NEAR(total->value, static_cast<double>(sum) / 1e6, 1e-6);
}

TEST(metrics, families_are_described_once_with_many_series) {
  metrics_registry registry;
  for (int w = 0; w < 3; ++w) {
    const std::string labels = "worker=\"" + std::to_string(w) + "\"";
    registry.get_histogram("lat_seconds", labels, "Latency").observe_us(7);
    registry.get_counter("steps_total", labels, "Steps").inc();
  }
  const auto parsed = exposition::parse(registry.render());  // fails on a repeated HELP/TYPE
  EXPECT_EQ(parsed.types.size(), 2u);
  std::size_t counts = 0;
  for (const auto& s : parsed.samples) counts += s.name == "lat_seconds_count";
  EXPECT_EQ(counts, 3u);
}

TEST(metrics, concurrent_updates_sum_exactly) {
  metrics_registry registry;
  constexpr int threads = 8;
  constexpr int per_thread = 20000;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      // Registration races too: every thread must get the same series.
      counter& c = registry.get_counter("hits_total", "", "Hits");
      gauge& g = registry.get_gauge("level", "", "Level");
      histogram& h = registry.get_histogram("lat_seconds", "", "Latency");
      for (int i = 0; i < per_thread; ++i) {
        c.inc();
        g.add(t % 2 == 0 ? 2 : -1);
        h.observe_us(static_cast<std::uint64_t>(i % 200));
        if (i % 5000 == 0) {
          (void)registry.render();  // rendering while others write
        }
      }
    });
  }
  for (auto& t : pool) t.join();
  EXPECT_EQ(registry.get_counter("hits_total", "", "").value(),
            static_cast<std::uint64_t>(threads) * per_thread);
  EXPECT_EQ(registry.get_gauge("level", "", "").value(), (threads / 2) * per_thread * (2 - 1));
  histogram& h = registry.get_histogram("lat_seconds", "", "");
  EXPECT_EQ(h.count(), static_cast<std::uint64_t>(threads) * per_thread);
  std::uint64_t buckets = 0;
  for (std::size_t i = 0; i <= histogram::bounds_us.size(); ++i) buckets += h.bucket(i);
  EXPECT_EQ(buckets, h.count());
  const auto parsed = exposition::parse(registry.render());
  EXPECT_EQ(parsed.find("hits_total", "")->value, threads * per_thread);
}

}  // namespace
}  // namespace partyd
