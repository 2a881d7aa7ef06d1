#include "storage/log_store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <ctime>
#include <utility>

#include "engine/log.hpp"
#include "storage/file_store.hpp"

namespace partyd {
namespace {

using snapshot_log::record;
using snapshot_log::record_kind;

// Migration appends the older files in slices of about this many bytes.
constexpr std::size_t migrate_slice_bytes = 16u << 20;
// Compaction writes the new log in chunks of about this many bytes.
constexpr std::size_t compact_chunk_bytes = 4u << 20;

// pwrite of all of `bytes` at `offset`. Returns 0 or an errno.
int write_all_at(int fd, std::string_view bytes, std::uint64_t offset) {
  while (!bytes.empty()) {
    const ssize_t n = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return errno;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
  }
  return 0;
}

int read_all_at(int fd, char* into, std::size_t size, std::uint64_t offset) {
  while (size > 0) {
    const ssize_t n = ::pread(fd, into, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return errno;
    }
    if (n == 0) {
      return EIO;  // the log is shorter than the index says
    }
    into += n;
    size -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
  return 0;
}

// A record about to be appended: indexed once its batch is durable.
struct appended {
  record_kind kind = record_kind::put;
  std::string key;
  std::int64_t expires_at = 0;
  std::uint64_t offset = 0;
  std::uint32_t size = 0;
};

// Appends `r` to `out`, which is to be written at `base`; remembers where it lands.
void stage(std::string& out, std::uint64_t base, const record& r, std::vector<appended>& staged) {
  const std::uint64_t offset = base + out.size();
  snapshot_log::append_record(out, r);
  staged.push_back({r.kind, std::string(r.key), r.expires_at, offset,
                    static_cast<std::uint32_t>(base + out.size() - offset)});
}

bool has_older_files(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    return false;
  }
  bool found = false;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view name = e->d_name;
    if (name.ends_with(".snap") || name.ends_with(".quarantine")) {
      found = true;
      break;
    }
  }
  ::closedir(d);
  return found;
}

}  // namespace

log_store::log_store(std::string dir, clock_fn now_s, log_store_options options)
    : dir_(std::move(dir)), now_s_(std::move(now_s)), options_(options) {
  if (!now_s_) {
    now_s_ = [] { return static_cast<std::int64_t>(std::time(nullptr)); };
  }
}

std::string log_store::describe() const { return dir_.describe(); }

std::string log_store::path_of(std::string_view name) const {
  return dir_.path() + "/" + std::string(name);
}

void log_store::forget(index& from, index::iterator at) {
  stats_.needed_bytes -= at->second.size;
  from.erase(at);
}

void log_store::index_record(record_kind kind, std::string_view key, std::int64_t expires_at,
                             std::uint64_t offset, std::uint32_t size) {
  const entry e{offset, size, expires_at, kind};
  const auto replace = [&](index& into, const entry& with) {
    auto [it, fresh] = into.try_emplace(std::string(key), with);
    if (!fresh) {
      stats_.needed_bytes -= it->second.size;
      it->second = with;
    }
    stats_.needed_bytes += with.size;
  };
  switch (kind) {
    case record_kind::put:
    case record_kind::put_quarantined:
      replace(kind == record_kind::put ? live_ : quarantined_, e);
      break;
    case record_kind::remove:
      if (auto it = live_.find(std::string(key)); it != live_.end()) {
        forget(live_, it);
      }
      break;
    case record_kind::quarantine:
      // The snapshot stays where its put left it; only the index moves it aside.
      if (auto it = live_.find(std::string(key)); it != live_.end()) {
        const entry moved = it->second;
        forget(live_, it);
        replace(quarantined_, moved);
      }
      break;
  }
  stats_.live = live_.size();
  stats_.quarantined = quarantined_.size();
}

store_result log_store::open() {
  if (opened_) {
    return {};
  }
  if (store_result r = dir_.ensure(); !r.ok) {
    return r;
  }
  ::unlink(path_of(compact_name).c_str());  // a compaction interrupted before its rename
  const std::string path = path_of(log_name);
  unique_fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (fd.get() < 0) {
    return store_failure(describe() + ": open " + path + ": " + errno_text(errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return store_failure(describe() + ": fstat " + path + ": " + errno_text(errno));
  }
  live_.clear();
  quarantined_.clear();
  stats_ = {};
  const auto size = static_cast<std::size_t>(st.st_size);
  if (size == 0) {
    if (const int err = write_all_at(fd.get(), snapshot_log::file_magic, 0);
        err != 0 || ::fdatasync(fd.get()) != 0) {
      return store_failure(describe() + ": start " + path + ": " +
                           errno_text(err != 0 ? err : errno));
    }
    if (store_result r = dir_.sync(); !r.ok) {
      return r;
    }
    end_ = snapshot_log::file_magic.size();
  } else {
    void* mapped = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd.get(), 0);
    if (mapped == MAP_FAILED) {
      return store_failure(describe() + ": mmap " + path + ": " + errno_text(errno));
    }
    ::madvise(mapped, size, MADV_SEQUENTIAL);
    const std::string_view bytes(static_cast<const char*>(mapped), size);
    const snapshot_log::scan_result scanned = snapshot_log::scan(
        bytes, [&](const record& r, std::size_t offset, std::size_t record_size) {
          index_record(r.kind, r.key, r.expires_at, offset,
                       static_cast<std::uint32_t>(record_size));
        });
    ::munmap(mapped, size);
    if (scanned.valid_end == 0) {
      // Not a log this store wrote: never append to (or cut) someone else's file.
      return store_failure(describe() + ": " + path + " is not a partyd snapshot log");
    }
    stats_.corrupt_records = scanned.corrupt_records;
    stats_.torn_bytes = scanned.torn_bytes;
    if (scanned.corrupt_records > 0) {
      open_skips_.emplace_back(std::string(log_name), std::to_string(scanned.corrupt_records) +
                                                          " damaged record(s) skipped (" +
                                                          std::to_string(scanned.corrupt_bytes) +
                                                          " bytes)");
    }
    if (scanned.valid_end < size) {
      // A write a crash cut short (its batch was never confirmed, so nothing confirmed is lost),
      // or a damaged last record: appends go after the good records.
      log::warn("snapshot_log_tail_cut", {{"store", describe()},
                                          {"bytes", size - scanned.valid_end},
                                          {"torn", scanned.torn_bytes > 0},
                                          {"at", scanned.valid_end}});
      if (::ftruncate(fd.get(), static_cast<off_t>(scanned.valid_end)) != 0 ||
          ::fdatasync(fd.get()) != 0) {
        return store_failure(describe() + ": cut the torn tail of " + path + ": " +
                             errno_text(errno));
      }
    }
    end_ = scanned.valid_end;
  }
  log_ = std::move(fd);
  opened_ = true;
  stats_.log_bytes = end_;
  return migrate_files();
}

store_result log_store::migrate_files() {
  if (!has_older_files(dir_.path())) {
    return {};
  }
  file_store older(dir_.path(), now_s_);
  older.set_skip_observer([this](std::string_view key, std::string_view why) {
    open_skips_.emplace_back(std::string(key), std::string(why));
  });
  std::vector<std::string> live_keys;
  std::vector<std::string> quarantined_keys;
  std::vector<appended> staged;
  store_result failed;
  const auto drain = [&]() {
    if (failed.ok && !pending_.empty()) {
      failed = append_pending();
      if (failed.ok) {
        index_all(staged);
      }
    }
    pending_.clear();
    staged.clear();
  };
  for (const bool quarantined : {false, true}) {
    const store_result r = older.load_entries(
        quarantined, [&](std::string_view key, std::string_view value, std::int64_t expires_at) {
          if (!failed.ok || value.size() > snapshot_log::value_size_max) {
            return;
          }
          (quarantined ? quarantined_keys : live_keys).emplace_back(key);
          stage(pending_, end_,
                record{quarantined ? record_kind::put_quarantined : record_kind::put, key,
                       expires_at, value},
                staged);
          if (pending_.size() >= migrate_slice_bytes) {
            drain();
          }
        });
    if (!r.ok) {
      return r;
    }
    drain();
  }
  if (!failed.ok) {
    return failed;
  }
  if (live_keys.empty() && quarantined_keys.empty()) {
    return {};  // only files that cannot be read: reported, and left for an operator
  }
  // Only once the log holds them durably: a crash before this reads the files in again.
  if (store_result r = older.erase_files(live_keys, false); !r.ok) {
    return r;
  }
  if (store_result r = older.erase_files(quarantined_keys, true); !r.ok) {
    return r;
  }
  stats_.migrated_files = live_keys.size() + quarantined_keys.size();
  log::info("snapshot_files_migrated", {{"store", describe()},
                                        {"rooms", live_keys.size()},
                                        {"quarantined", quarantined_keys.size()}});
  return {};
}

store_result log_store::append_pending() {
  if (pending_.empty()) {
    return {};
  }
  const std::string path = path_of(log_name);
  int err = write_all_at(log_.get(), pending_, end_);
  if (err == 0 && ::fdatasync(log_.get()) != 0) {
    err = errno;
  }
  if (err != 0) {
    // Whatever part landed is not confirmed: cut it off so the next batch follows good records.
    if (::ftruncate(log_.get(), static_cast<off_t>(end_)) != 0) {
      opened_ = false;  // the next call reads the log again, which cuts the tail
    }
    return store_failure(describe() + ": append to " + path + ": " + errno_text(err));
  }
  end_ += pending_.size();
  stats_.log_bytes = end_;
  if (pending_.capacity() > compact_chunk_bytes) {
    std::string().swap(pending_);  // a migration slice or a huge batch: not kept for every batch
  }
  return {};
}

store_result log_store::write(const std::vector<snapshot_record>& records) {
  if (records.empty()) {
    return {};
  }
  for (const snapshot_record& r : records) {
    if (!snapshot_log::valid_key(r.key)) {
      return store_failure(describe() + ": invalid key (" + std::to_string(r.key.size()) +
                           " bytes); keys must match [A-Za-z0-9_-]{1,64}");
    }
    if (r.value.size() > snapshot_log::value_size_max) {
      return store_failure(describe() + ": a snapshot of " + std::to_string(r.value.size()) +
                           " bytes is larger than the log takes");
    }
  }
  if (store_result r = open(); !r.ok) {
    return r;
  }
  const std::int64_t now = now_s_();
  pending_.clear();
  std::vector<appended> staged;
  staged.reserve(records.size());
  for (const snapshot_record& r : records) {
    stage(pending_, end_, record{record_kind::put, r.key, r.ttl_s > 0 ? now + r.ttl_s : 0, r.value},
          staged);
  }
  if (store_result r = append_pending(); !r.ok) {
    return r;
  }
  index_all(staged);
  if (end_ >= options_.compact_min_bytes &&
      static_cast<double>(end_) >
          options_.compact_ratio * static_cast<double>(stats_.needed_bytes)) {
    if (store_result r = compact(); !r.ok) {
      // The batch is durable in the old log, which stays; the next write tries again.
      log::warn("snapshot_log_compaction_failed", {{"store", describe()}, {"error", r.error}});
    }
  }
  return {};
}

store_result log_store::remove(const std::vector<std::string>& keys) {
  if (store_result r = open(); !r.ok) {
    return r;
  }
  pending_.clear();
  std::vector<appended> staged;
  for (const std::string& key : keys) {
    if (live_.contains(key)) {  // a missing key needs no record
      stage(pending_, end_, record{record_kind::remove, key, 0, {}}, staged);
    }
  }
  if (store_result r = append_pending(); !r.ok) {
    return r;
  }
  index_all(staged);
  return {};
}

store_result log_store::quarantine(const std::vector<std::string>& keys) {
  if (store_result r = open(); !r.ok) {
    return r;
  }
  pending_.clear();
  std::vector<appended> staged;
  for (const std::string& key : keys) {
    if (auto it = live_.find(key); it != live_.end()) {  // the expiry moves with the snapshot
      stage(pending_, end_, record{record_kind::quarantine, key, it->second.expires_at, {}},
            staged);
    }
  }
  if (store_result r = append_pending(); !r.ok) {
    return r;
  }
  index_all(staged);
  return {};
}

store_result log_store::read_record(const entry& e, std::string& buffer, record& r, bool& damaged) {
  buffer.resize(e.size);
  if (const int err = read_all_at(log_.get(), buffer.data(), e.size, e.offset); err != 0) {
    return store_failure(describe() + ": read " + path_of(log_name) + ": " + errno_text(err));
  }
  damaged = snapshot_log::decode(buffer, r) != e.size;
  return {};
}

store_result log_store::visit_index(
    index& from, const std::function<void(std::string_view key, std::string_view value)>& visit) {
  const std::int64_t now = now_s_();
  std::string buffer;
  for (auto it = from.begin(); it != from.end();) {
    if (expired(it->second, now)) {
      const auto gone = it++;
      forget(from, gone);  // its bytes go at the next compaction
      continue;
    }
    record r;
    bool damaged = false;
    if (store_result read = read_record(it->second, buffer, r, damaged); !read.ok) {
      return read;  // the log cannot be read
    }
    if (damaged) {
      report_skip(it->first, "the record at offset " + std::to_string(it->second.offset) +
                                 " was damaged after the log was opened");
    } else {
      visit(it->first, r.value);
    }
    ++it;
  }
  stats_.live = live_.size();
  stats_.quarantined = quarantined_.size();
  return {};
}

store_result log_store::load_all(
    const std::function<void(std::string_view key, std::string_view value)>& visit) {
  if (store_result r = open(); !r.ok) {
    return r;
  }
  for (const auto& [key, why] : open_skips_) {
    report_skip(key, why);
  }
  open_skips_.clear();
  return visit_index(live_, visit);
}

store_result log_store::load_quarantined(
    const std::function<void(std::string_view key, std::string_view value)>& visit) {
  if (store_result r = open(); !r.ok) {
    return r;
  }
  return visit_index(quarantined_, visit);
}

store_result log_store::compact() {
  if (store_result r = open(); !r.ok) {
    return r;
  }
  const auto started = std::chrono::steady_clock::now();
  const std::string temp = path_of(compact_name);
  unique_fd fd(::open(temp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (fd.get() < 0) {
    return store_failure(describe() + ": create " + temp + ": " + errno_text(errno));
  }
  const auto abandon = [&](std::string what, int err) {
    fd.reset();
    ::unlink(temp.c_str());
    return store_failure(describe() + ": compaction: " + what + ": " + errno_text(err));
  };
  const std::int64_t now = now_s_();
  std::string out(snapshot_log::file_magic);
  std::uint64_t written = 0;  // bytes of `out` already in the new file
  index live;
  index quarantined;
  std::size_t needed = 0;
  std::string buffer;
  for (const bool aside : {false, true}) {
    for (const auto& [key, e] : aside ? quarantined_ : live_) {
      if (expired(e, now)) {
        continue;
      }
      record r;
      bool damaged = false;
      if (store_result read = read_record(e, buffer, r, damaged); !read.ok || damaged) {
        fd.reset();
        ::unlink(temp.c_str());
        return read.ok ? store_failure(describe() +
                                       ": compaction: a record was damaged after "
                                       "the log was opened")
                       : read;
      }
      const std::uint64_t offset = written + out.size();
      const record_kind kind = aside ? record_kind::put_quarantined : record_kind::put;
      if (e.kind == kind) {
        out.append(buffer);  // already the record it must be
      } else {
        r.kind = kind;
        snapshot_log::append_record(out, r);
      }
      const auto size = static_cast<std::uint32_t>(written + out.size() - offset);
      (aside ? quarantined : live).emplace(key, entry{offset, size, e.expires_at, kind});
      needed += size;
      if (out.size() >= compact_chunk_bytes) {
        if (const int err = write_all_at(fd.get(), out, written); err != 0) {
          return abandon("write", err);
        }
        written += out.size();
        out.clear();
      }
    }
  }
  if (const int err = write_all_at(fd.get(), out, written); err != 0) {
    return abandon("write", err);
  }
  written += out.size();
  if (::fdatasync(fd.get()) != 0) {
    return abandon("fdatasync", errno);
  }
  // The rename makes the new log the log; the directory sync makes that survive a power loss.
  if (::rename(temp.c_str(), path_of(log_name).c_str()) != 0) {
    return abandon("rename", errno);
  }
  const store_result synced = dir_.sync();
  const std::size_t before = end_;
  log_ = std::move(fd);
  live_ = std::move(live);
  quarantined_ = std::move(quarantined);
  end_ = written;
  stats_.log_bytes = end_;
  stats_.needed_bytes = needed;
  stats_.live = live_.size();
  stats_.quarantined = quarantined_.size();
  ++stats_.compactions;
  log::info("snapshot_log_compacted", {{"store", describe()},
                                       {"bytes_before", before},
                                       {"bytes_after", end_},
                                       {"ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                                  std::chrono::steady_clock::now() - started)
                                                  .count()}});
  return synced;
}

store_result log_store::ping() { return dir_.writable(); }

store_result log_store::check_intact(std::string& lost) {
  if (store_result r = dir_.check_intact(lost); !r.ok) {
    return r;
  }
  if (lost.empty() && opened_) {
    struct stat on_disk {};
    struct stat held {};
    if (::stat(path_of(log_name).c_str(), &on_disk) != 0 || ::fstat(log_.get(), &held) != 0 ||
        on_disk.st_ino != held.st_ino || on_disk.st_dev != held.st_dev) {
      lost = "the snapshot log was deleted or replaced";
    }
  }
  if (!lost.empty() && opened_) {
    // What the index points to is gone: start a new log, which the rewrite of every room fills.
    opened_ = false;
    log_.reset();
    return open();
  }
  return {};
}

}  // namespace partyd
