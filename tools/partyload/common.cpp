#include "common.hpp"

#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <chrono>
#include <fstream>
#include <stdexcept>

#include <boost/asio/connect.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace partyload {

namespace beast = boost::beast;
namespace http = beast::http;

std::int64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::int64_t wall_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::size_t histogram::index_of(std::uint64_t v) {
  if (v < (1u << sub_bits)) return static_cast<std::size_t>(v);
  int msb = 63 - std::countl_zero(v);
  if (msb > max_msb) {
    msb = max_msb;
    v = (std::uint64_t{1} << (max_msb + 1)) - 1;
  }
  const int shift = msb - sub_bits + 1;
  const auto top = static_cast<std::size_t>(v >> shift);  // in [half, 2 * half)
  return (1u << sub_bits) + static_cast<std::size_t>(shift - 1) * half + (top - half);
}

std::int64_t histogram::value_of(std::size_t index) {
  if (index < (1u << sub_bits)) return static_cast<std::int64_t>(index);
  const std::size_t rest = index - (1u << sub_bits);
  const int shift = static_cast<int>(rest / half) + 1;
  const std::uint64_t top = rest % half + half;
  const std::uint64_t low = top << shift;
  const std::uint64_t high = ((top + 1) << shift) - 1;
  return static_cast<std::int64_t>((low + high) / 2);
}

void histogram::add_to(std::vector<std::uint64_t>& counts, std::int64_t& max) const {
  counts.resize(size);
  for (int i = 0; i < size; ++i) counts[i] += counts_[i].load(std::memory_order_relaxed);
  max = std::max(max, max_.load(std::memory_order_relaxed));
}

summary summarize(const std::vector<const histogram*>& parts) {
  std::vector<std::uint64_t> counts(histogram::size, 0);
  std::int64_t max = 0;
  for (const auto* h : parts) h->add_to(counts, max);
  summary s;
  for (auto c : counts) s.count += c;
  if (s.count == 0) return s;
  auto at = [&](double p) {
    // The value of the sample of rank ceil(p * count) (1-based), like a sorted vector's.
    const auto rank = std::max<std::uint64_t>(
        1, static_cast<std::uint64_t>(p * static_cast<double>(s.count) + 0.999999));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts.size(); ++i) {
      seen += counts[i];
      if (seen >= rank) return static_cast<double>(std::min(histogram::value_of(i), max)) / 1e6;
    }
    return static_cast<double>(max) / 1e6;
  };
  s.p50_ms = at(0.50);
  s.p95_ms = at(0.95);
  s.p99_ms = at(0.99);
  s.max_ms = static_cast<double>(max) / 1e6;
  return s;
}

json::object to_json(const summary& s) {
  return {{"count", s.count},
          {"p50_ms", s.p50_ms},
          {"p95_ms", s.p95_ms},
          {"p99_ms", s.p99_ms},
          {"max_ms", s.max_ms}};
}

void put_percentiles(json::object& out, std::string_view name, const summary& s) {
  const std::string prefix(name);
  out[prefix + "_p50_ms"] = s.p50_ms;
  out[prefix + "_p95_ms"] = s.p95_ms;
  out[prefix + "_p99_ms"] = s.p99_ms;
  out[prefix + "_max_ms"] = s.max_ms;
  out[prefix] = to_json(s);
}

const char* command_name(command c) {
  switch (c) {
    case command::create_room:
      return "CREATE_ROOM";
    case command::join_room:
      return "JOIN_ROOM";
    case command::take_player:
      return "TAKE_PLAYER";
    case command::rename_player:
      return "RENAME_PLAYER";
    case command::start_game:
      return "START_GAME";
    case command::reel_opened:
      return "REEL_OPENED";
    case command::submit_vote:
      return "SUBMIT_VOTE";
    case command::end_item:
      return "END_ITEM";
    case command::start_next_round:
      return "START_NEXT_ROUND";
    case command::room_closed:
      return "ROOM_CLOSED";
    case command::count:
      break;
  }
  return "?";
}

void run_state::error(std::string_view code) {
  errors.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(error_mutex);
  auto it = errors_by_code.find(code);
  if (it == errors_by_code.end()) {
    errors_by_code.emplace(std::string(code), 1);
  } else {
    ++it->second;
  }
}

json::object run_state::errors_json() {
  std::lock_guard lock(error_mutex);
  json::object out;
  for (const auto& [code, count] : errors_by_code) out[code] = count;
  return out;
}

double process_cpu_seconds(int pid) {
  if (pid <= 0) {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  }
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string content((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto close = content.rfind(')');
  if (close == std::string::npos) return 0;
  std::vector<std::string> fields;
  std::size_t pos = close + 2;
  while (pos < content.size()) {
    const auto next = content.find(' ', pos);
    fields.push_back(content.substr(pos, next - pos));
    if (next == std::string::npos) break;
    pos = next + 1;
  }
  // fields[0] is state (field 3); utime is field 14, stime 15.
  if (fields.size() < 13) return 0;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return (std::stod(fields[11]) + std::stod(fields[12])) / ticks;
}

long rss_kib(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::stol(line.substr(6));
    }
  }
  return -1;
}

namespace {
// Position just after `"name":` in frame, or npos.
std::size_t after_key(std::string_view frame, std::string_view name) {
  std::size_t pos = 0;
  while (true) {
    pos = frame.find(name, pos);
    if (pos == std::string_view::npos) return pos;
    const std::size_t end = pos + name.size();
    if (pos > 0 && frame[pos - 1] == '"' && end + 1 < frame.size() && frame[end] == '"' &&
        frame[end + 1] == ':') {
      return end + 2;
    }
    pos = end;
  }
}
}  // namespace

numbering read_numbering(std::string_view frame) {
  constexpr std::string_view numbered = "{\"sequenceId\":";
  numbering out;
  out.rest = frame;
  if (!frame.starts_with(numbered)) return out;
  const char* end = frame.data() + frame.size();
  auto [ptr, ec] = std::from_chars(frame.data() + numbered.size(), end, out.seq);
  if (ec != std::errc() || out.seq == 0) {
    out = numbering{};
    out.error = "bad_sequence_id";
    return out;
  }
  out.rest = std::string_view(ptr, static_cast<std::size_t>(end - ptr));
  constexpr std::string_view reliable = ",\"requiresAck\":true,\"ackId\":\"";
  if (out.rest.starts_with(reliable)) {
    out.rest.remove_prefix(reliable.size());
    const auto close = out.rest.find('"');
    if (close == std::string_view::npos) {
      out = numbering{};
      out.error = "bad_ack_id";
      return out;
    }
    out.ack_id = out.rest.substr(0, close);
    out.rest.remove_prefix(close + 1);
  }
  return out;
}

std::string_view string_field(std::string_view frame, std::string_view name) {
  const auto at = after_key(frame, name);
  if (at == std::string_view::npos || at >= frame.size() || frame[at] != '"') return {};
  const auto end = frame.find('"', at + 1);
  if (end == std::string_view::npos) return {};
  return frame.substr(at + 1, end - at - 1);
}

std::optional<std::int64_t> int_field(std::string_view frame, std::string_view name) {
  const auto at = after_key(frame, name);
  if (at == std::string_view::npos) return std::nullopt;
  std::int64_t value = 0;
  auto [ptr, ec] = std::from_chars(frame.data() + at, frame.data() + frame.size(), value);
  if (ec != std::errc()) return std::nullopt;
  return value;
}

json::value admin_request(const options& opt, const std::string& method, const std::string& target,
                          const std::string& body) {
  net::io_context ctx;
  tcp::resolver resolver(ctx);
  beast::tcp_stream stream(ctx);
  stream.connect(resolver.resolve(opt.host, opt.port));
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, opt.host);
  req.set(http::field::authorization, "Bearer " + opt.token);
  req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  if (res.result_int() >= 300) {
    throw std::runtime_error("admin API " + target + ": " + std::to_string(res.result_int()) + " " +
                             res.body());
  }
  return json::parse(res.body());
}

}  // namespace partyload
