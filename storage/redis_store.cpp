#include "storage/redis_store.hpp"

#include <hiredis/hiredis.h>
#include <poll.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <charconv>
#include <ctime>
#include <memory>
#include <unordered_set>
#include <utility>

#include "storage/sigpipe_guard.hpp"

namespace partyd {
namespace {

struct reply_deleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

timeval to_timeval(int ms) {
  timeval tv{};
  tv.tv_sec = ms / 1000;
  tv.tv_usec = (ms % 1000) * 1000;
  return tv;
}

reply_ptr next_reply(redisContext* c) {
  void* raw = nullptr;
  if (redisGetReply(c, &raw) != REDIS_OK) {
    if (raw != nullptr) {
      freeReplyObject(raw);
    }
    return nullptr;
  }
  return reply_ptr(static_cast<redisReply*>(raw));
}

std::string_view reply_text(const redisReply& r) {
  return r.str != nullptr ? std::string_view(r.str, r.len) : std::string_view();
}

// True when the server closed (or reset) an idle connection: between calls no reply is
// outstanding, so any readable data or hang-up means the connection is no longer usable. Catches
// a Redis restart or its `timeout` idle close before a write fails on it.
bool peer_closed(int fd) {
  pollfd p{fd, POLLIN, 0};
  const int n = ::poll(&p, 1, 0);
  return n != 0;  // readable, hung up, or poll failed: reconnect
}

std::string glob_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 1);
  for (const char ch : s) {
    if (ch == '*' || ch == '?' || ch == '[' || ch == ']' || ch == '\\') {
      out.push_back('\\');
    }
    out.push_back(ch);
  }
  return out;
}

int hex_value(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) {
      return false;
    }
    const int hi = hex_value(in[i + 1]);
    const int lo = hex_value(in[i + 2]);
    if (hi < 0 || lo < 0) {
      return false;
    }
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

bool parse_int(std::string_view s, int lo, int hi, int& out) {
  if (s.empty() || s.size() > 6) {
    return false;
  }
  int v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || v < lo || v > hi) {
    return false;
  }
  out = v;
  return true;
}

}  // namespace

bool parse_redis_url(std::string_view url, redis_settings& out, std::string& error) {
  constexpr std::string_view scheme = "redis://";
  if (url.substr(0, scheme.size()) != scheme) {
    error = "redis URL must start with redis://";
    return false;
  }
  redis_settings s;
  std::string_view rest = url.substr(scheme.size());

  // Userinfo ends at the last '@', so a password may contain '@' (or '/', percent-encoded or not).
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const auto colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      error = "redis URL: expected [user]:password@ before the host";
      return false;
    }
    if (!percent_decode(userinfo.substr(0, colon), s.username) ||
        !percent_decode(userinfo.substr(colon + 1), s.password)) {
      error = "redis URL: bad percent-encoding in the user or password";
      return false;
    }
    if (s.password.empty()) {
      error = "redis URL: empty password after ':'";
      return false;
    }
  }

  std::string_view authority = rest;
  std::string_view path;
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    authority = rest.substr(0, slash);
    path = rest.substr(slash + 1);
  }

  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      error = "redis URL: unterminated '[' in the host";
      return false;
    }
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        error = "redis URL: expected ':port' after ']'";
        return false;
      }
      port = after.substr(1);
      if (port.empty()) {
        error = "redis URL: empty port";
        return false;
      }
    }
  } else if (const auto colon = authority.find(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.empty()) {
      error = "redis URL: empty port";
      return false;
    }
  }
  if (host.empty()) {
    error = "redis URL: missing host";
    return false;
  }
  if (!port.empty() && !parse_int(port, 1, 65535, s.port)) {
    error = "redis URL: port must be a number in 1..65535, got '" + std::string(port) + "'";
    return false;
  }
  if (!path.empty() && !parse_int(path, 0, 15, s.db)) {
    error = "redis URL: db must be a number in 0..15, got '" + std::string(path) + "'";
    return false;
  }
  s.host = std::string(host);
  out = std::move(s);
  return true;
}

redis_store::redis_store(redis_settings settings, std::string prefix, std::string quarantine_prefix)
    : settings_(std::move(settings)),
      prefix_(std::move(prefix)),
      quarantine_prefix_(std::move(quarantine_prefix)),
      marker_key_(prefix_ + std::string(marker_suffix)) {}

redis_store::~redis_store() { disconnect(); }

std::string redis_store::describe() const {
  const bool v6 = settings_.host.find(':') != std::string::npos;
  return "redis://" + (v6 ? "[" + settings_.host + "]" : settings_.host) + ":" +
         std::to_string(settings_.port) + "/" + std::to_string(settings_.db);
}

void redis_store::disconnect() {
  if (ctx_ != nullptr) {
    redisFree(ctx_);
    ctx_ = nullptr;
  }
}

store_result redis_store::fail(std::string_view what, std::string_view detail) {
  std::string message = describe() + ": " + std::string(what) + ": ";
  if (!detail.empty()) {
    message += detail;
  } else if (ctx_ != nullptr && ctx_->err != 0) {
    message += ctx_->errstr;
  } else {
    message += "unexpected reply";
  }
  disconnect();
  // Redis does not echo passwords in its errors today; scrub anyway, errors end up in logs.
  if (!settings_.password.empty()) {
    for (auto pos = message.find(settings_.password); pos != std::string::npos;
         pos = message.find(settings_.password, pos)) {
      message.replace(pos, settings_.password.size(), "***");
      pos += 3;
    }
  }
  return store_result{false, std::move(message)};
}

store_result redis_store::ensure_connected() {
  if (ctx_ != nullptr && peer_closed(ctx_->fd)) {
    disconnect();
  }
  if (ctx_ != nullptr) {
    return {};
  }
  ctx_ = redisConnectWithTimeout(settings_.host.c_str(), settings_.port,
                                 to_timeval(settings_.connect_timeout_ms));
  if (ctx_ == nullptr) {
    return fail("connect", "out of memory");
  }
  if (ctx_->err != 0) {
    return fail("connect");
  }
  if (redisSetTimeout(ctx_, to_timeval(settings_.command_timeout_ms)) != REDIS_OK) {
    return fail("set timeout");
  }
  redisEnableKeepAlive(ctx_);  // best effort: detects a vanished peer on an idle connection

  if (!settings_.password.empty()) {
    const int rc = settings_.username.empty()
                       ? redisAppendCommand(ctx_, "AUTH %b", settings_.password.data(),
                                            settings_.password.size())
                       : redisAppendCommand(ctx_, "AUTH %b %b", settings_.username.data(),
                                            settings_.username.size(), settings_.password.data(),
                                            settings_.password.size());
    if (rc != REDIS_OK) {
      return fail("AUTH");
    }
    const reply_ptr reply = next_reply(ctx_);
    if (!reply) {
      return fail("AUTH");
    }
    if (reply->type == REDIS_REPLY_ERROR) {
      return fail("AUTH", reply_text(*reply));
    }
  }
  if (settings_.db != 0) {
    if (redisAppendCommand(ctx_, "SELECT %d", settings_.db) != REDIS_OK) {
      return fail("SELECT");
    }
    const reply_ptr reply = next_reply(ctx_);
    if (!reply) {
      return fail("SELECT");
    }
    if (reply->type == REDIS_REPLY_ERROR) {
      return fail("SELECT", reply_text(*reply));
    }
  }
  return {};
}

store_result redis_store::write(const std::vector<snapshot_record>& records) {
  if (records.empty()) {
    return {};
  }
  const sigpipe_guard guard;
  if (store_result r = ensure_connected(); !r.ok) {
    return r;
  }
  std::size_t next = 0;
  while (next < records.size()) {
    // Append one chunk, then read its replies: bounds hiredis's output buffer on big batches.
    std::size_t end = next;
    std::size_t bytes = 0;
    while (end < records.size() && end - next < pipeline_commands_max &&
           (end == next || bytes < pipeline_bytes_max)) {
      const snapshot_record& rec = records[end];
      assert(rec.ttl_s >= 0 && "snapshot_record::ttl_s must not be negative");
      // "%b%b" inside one argument concatenates prefix and key without building a string.
      const int rc =
          rec.ttl_s > 0
              ? redisAppendCommand(ctx_, "SET %b%b %b EX %lld", prefix_.data(), prefix_.size(),
                                   rec.key.data(), rec.key.size(), rec.value.data(),
                                   rec.value.size(), static_cast<long long>(rec.ttl_s))
              : redisAppendCommand(ctx_, "SET %b%b %b", prefix_.data(), prefix_.size(),
                                   rec.key.data(), rec.key.size(), rec.value.data(),
                                   rec.value.size());
      if (rc != REDIS_OK) {
        return fail("SET");
      }
      bytes += rec.key.size() + rec.value.size();
      ++end;
    }
    for (; next < end; ++next) {
      const reply_ptr reply = next_reply(ctx_);
      if (!reply) {
        return fail("SET");
      }
      if (reply->type == REDIS_REPLY_ERROR) {
        return fail("SET", reply_text(*reply));
      }
    }
  }
  return {};
}

store_result redis_store::per_key(const std::vector<std::string>& keys, std::string_view command,
                                  const std::function<int(const std::string& key)>& append,
                                  std::string_view tolerated_error) {
  if (keys.empty()) {
    return {};
  }
  const sigpipe_guard guard;
  if (store_result r = ensure_connected(); !r.ok) {
    return r;
  }
  std::size_t next = 0;
  while (next < keys.size()) {
    const std::size_t end = std::min(keys.size(), next + pipeline_commands_max);
    for (std::size_t i = next; i < end; ++i) {
      if (append(keys[i]) != REDIS_OK) {
        return fail(command);
      }
    }
    for (; next < end; ++next) {
      const reply_ptr reply = next_reply(ctx_);
      if (!reply) {
        return fail(command);
      }
      if (reply->type == REDIS_REPLY_ERROR &&
          (tolerated_error.empty() ||
           reply_text(*reply).find(tolerated_error) == std::string_view::npos)) {
        return fail(command, reply_text(*reply));
      }
    }
  }
  return {};
}

store_result redis_store::remove(const std::vector<std::string>& keys) {
  // UNLINK frees the value off the main thread of Redis; a missing key answers 0.
  return per_key(keys, "UNLINK", [this](const std::string& key) {
    return redisAppendCommand(ctx_, "UNLINK %b%b", prefix_.data(), prefix_.size(), key.data(),
                              key.size());
  });
}

store_result redis_store::quarantine(const std::vector<std::string>& keys) {
  // RENAME keeps the key's TTL: the evidence expires when the room would have. "ERR no such
  // key": the room was never stored, or expired; nothing to keep.
  return per_key(
      keys, "RENAME",
      [this](const std::string& key) {
        return redisAppendCommand(ctx_, "RENAME %b%b %b%b", prefix_.data(), prefix_.size(),
                                  key.data(), key.size(), quarantine_prefix_.data(),
                                  quarantine_prefix_.size(), key.data(), key.size());
      },
      "no such key");
}

store_result redis_store::load_all(
    const std::function<void(std::string_view key, std::string_view value)>& visit) {
  return load_prefixed(prefix_, visit);
}

store_result redis_store::load_quarantined(
    const std::function<void(std::string_view key, std::string_view value)>& visit) {
  return load_prefixed(quarantine_prefix_, visit);
}

store_result redis_store::load_prefixed(
    const std::string& prefix,
    const std::function<void(std::string_view key, std::string_view value)>& visit) {
  const std::string match_pattern = glob_escape(prefix) + "*";
  const sigpipe_guard guard;
  if (store_result r = ensure_connected(); !r.ok) {
    return r;
  }
  // SCAN may return a key more than once (while the keyspace rehashes): visit each key once.
  std::unordered_set<std::string> seen;
  std::vector<std::string> page_keys;
  std::string cursor = "0";
  do {
    if (redisAppendCommand(ctx_, "SCAN %b MATCH %b COUNT %d", cursor.data(), cursor.size(),
                           match_pattern.data(), match_pattern.size(), scan_count) != REDIS_OK) {
      return fail("SCAN");
    }
    const reply_ptr page = next_reply(ctx_);
    if (!page) {
      return fail("SCAN");
    }
    if (page->type == REDIS_REPLY_ERROR) {
      return fail("SCAN", reply_text(*page));
    }
    if (page->type != REDIS_REPLY_ARRAY || page->elements != 2 ||
        page->element[0]->type != REDIS_REPLY_STRING ||
        page->element[1]->type != REDIS_REPLY_ARRAY) {
      return fail("SCAN", "malformed reply");
    }
    cursor.assign(page->element[0]->str, page->element[0]->len);

    page_keys.clear();
    const redisReply& keys = *page->element[1];
    for (std::size_t i = 0; i < keys.elements; ++i) {
      const redisReply& k = *keys.element[i];
      if (k.type != REDIS_REPLY_STRING || k.len < prefix.size()) {
        continue;
      }
      std::string key(k.str, k.len);
      if (seen.insert(key).second) {
        page_keys.push_back(std::move(key));
      }
    }

    for (std::size_t next = 0; next < page_keys.size();) {
      const std::size_t end = std::min(page_keys.size(), next + pipeline_commands_max);
      for (std::size_t i = next; i < end; ++i) {
        if (redisAppendCommand(ctx_, "GET %b", page_keys[i].data(), page_keys[i].size()) !=
            REDIS_OK) {
          return fail("GET");
        }
      }
      for (; next < end; ++next) {
        const reply_ptr value = next_reply(ctx_);
        if (!value) {
          return fail("GET");
        }
        const std::string_view full = page_keys[next];
        if (full == marker_key_) {
          continue;  // check_intact()'s, not a room
        }
        // Nil: expired or removed since SCAN. Error (WRONGTYPE): not a snapshot; skipped like
        // any other undecodable entry rather than failing the whole boot.
        if (value->type == REDIS_REPLY_ERROR) {
          report_skip(full.substr(prefix.size()),
                      "not a string value: " + std::string(reply_text(*value)));
        }
        if (value->type != REDIS_REPLY_STRING) {
          continue;
        }
        visit(full.substr(prefix.size()), reply_text(*value));
      }
    }
  } while (cursor != "0");
  return {};
}

store_result redis_store::check_intact(std::string& lost) {
  lost.clear();
  const sigpipe_guard guard;
  if (store_result r = ensure_connected(); !r.ok) {
    return r;
  }
  if (redisAppendCommand(ctx_, "EXISTS %b", marker_key_.data(), marker_key_.size()) != REDIS_OK ||
      redisAppendCommand(ctx_, "INFO server") != REDIS_OK) {
    return fail("EXISTS");
  }
  const reply_ptr exists = next_reply(ctx_);
  const reply_ptr info = exists ? next_reply(ctx_) : nullptr;
  if (!exists || !info) {
    return fail("EXISTS");
  }
  if (exists->type != REDIS_REPLY_INTEGER) {
    return fail("EXISTS", reply_text(*exists));
  }
  // INFO may be renamed or refused on managed servers: then only the marker tells.
  std::string run_id;
  if (info->type == REDIS_REPLY_STRING) {
    constexpr std::string_view field = "run_id:";
    const std::string_view text = reply_text(*info);
    if (const auto at = text.find(field); at != std::string_view::npos) {
      const auto begin = at + field.size();
      const auto end = text.find_first_of("\r\n", begin);
      run_id = std::string(text.substr(begin, end == std::string_view::npos ? end : end - begin));
    }
  }
  const bool marker_missing = exists->integer == 0;
  if (marked_) {
    if (marker_missing) {
      lost = "the marker key is gone: the database was flushed or replaced";
    } else if (!run_id.empty() && !run_id_.empty() && run_id != run_id_) {
      lost = "the server restarted (its run_id changed) and may have reloaded older data";
    }
  }
  if (marker_missing) {
    constexpr std::string_view value =
        "partyd: its absence tells a running partyd that this database lost its snapshots";
    if (redisAppendCommand(ctx_, "SET %b %b", marker_key_.data(), marker_key_.size(), value.data(),
                           value.size()) != REDIS_OK) {
      return fail("SET");
    }
    const reply_ptr reply = next_reply(ctx_);
    if (!reply) {
      return fail("SET");
    }
    if (reply->type == REDIS_REPLY_ERROR) {
      return fail("SET", reply_text(*reply));
    }
  }
  // Only now: a check that failed half-way reports the loss again on the next call.
  marked_ = true;
  if (!run_id.empty()) {
    run_id_ = std::move(run_id);
  }
  return {};
}

store_result redis_store::ping() {
  const sigpipe_guard guard;
  if (store_result r = ensure_connected(); !r.ok) {
    return r;
  }
  if (redisAppendCommand(ctx_, "PING") != REDIS_OK) {
    return fail("PING");
  }
  const reply_ptr reply = next_reply(ctx_);
  if (!reply) {
    return fail("PING");
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    return fail("PING", reply_text(*reply));
  }
  return {};
}

}  // namespace partyd
