// The embedded snapshot store (`--store file:<dir>`, the default): one append-only log,
// `<dir>/snapshots.log`, in the record format of storage/log_codec. A batch of writes (or of
// removals, or of quarantines) is one write() and one fdatasync(): a group commit, so a batch
// is durable (kill -9 and power loss) when the call returns, and costs two syscalls however many
// rooms it holds.
//
// An index in memory maps each live and each quarantined room to its newest record. When the log
// has grown past `compact_ratio` times what the index still needs (and past
// `compact_min_bytes`), the next write rewrites the needed records into a new log, syncs it and
// renames it over the old one.
//
// Opening (on the first call) reads the log once: a damaged record is skipped and counted (the
// room then comes back from its previous record, if any); bytes after the last good record (a
// write a crash cut short, or a damaged last record) are cut off so appends follow good records. A
// data directory of the per-room files written before the log (storage/file_store) is read once
// into the log and those files are deleted: the upgrade is a migration that needs no command. The
// directory belongs to one process. Thread: one thread at a time (the snapshot writer, or the boot
// loader before it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "storage/log_codec.hpp"
#include "storage/snapshot_store.hpp"
#include "storage/store_dir.hpp"

namespace partyd {

struct log_store_options {
  // Compact when the log holds this many times the bytes of the records still needed...
  double compact_ratio = 4.0;
  // ...and is at least this large, so a small store is never rewritten over and over.
  std::size_t compact_min_bytes = 64u << 20;
};

// What the last open and compaction found, for tests, logs and the benchmarks.
struct log_store_stats {
  std::size_t log_bytes = 0;     // size of snapshots.log
  std::size_t needed_bytes = 0;  // bytes of the records the index points to
  std::size_t live = 0;
  std::size_t quarantined = 0;
  std::size_t corrupt_records = 0;  // at open: damaged stretches skipped
  std::size_t torn_bytes = 0;       // at open: cut off after the last good record
  std::size_t migrated_files = 0;   // at open: per-room files of the older format read in
  std::size_t compactions = 0;
};

class log_store final : public snapshot_store {
 public:
  using clock_fn = std::function<std::int64_t()>;  // unix seconds

  static constexpr std::string_view log_name = "snapshots.log";
  static constexpr std::string_view compact_name = "snapshots.log.compact";

  // Does no I/O: the directory is created (mode 0700, parents as needed) on first use.
  // `now_s` is the expiry clock (default: the wall clock); tests inject their own.
  explicit log_store(std::string dir, clock_fn now_s = {}, log_store_options options = {});

  std::string describe() const override;  // "file:<dir>"
  // Rejects the whole batch, before writing anything, when a key is not a room code
  // ([A-Za-z0-9_-]{1,64}) or a value is larger than 64 MiB.
  store_result write(const std::vector<snapshot_record>& records) override;
  store_result remove(const std::vector<std::string>& keys) override;
  store_result load_all(
      const std::function<void(std::string_view key, std::string_view value)>& visit) override;
  store_result quarantine(const std::vector<std::string>& keys) override;
  store_result load_quarantined(
      const std::function<void(std::string_view key, std::string_view value)>& visit) override;
  store_result ping() override;
  // The directory's marker (store_dir); a lost directory also starts a new, empty log.
  store_result check_intact(std::string& lost) override;

  const log_store_stats& stats() const noexcept { return stats_; }
  // Rewrites the log now (the benchmarks and tests; writes call it when it is due).
  store_result compact();

 private:
  struct entry {
    std::uint64_t offset = 0;  // of its record in the log
    std::uint32_t size = 0;    // of that record
    std::int64_t expires_at = 0;
    snapshot_log::record_kind kind = snapshot_log::record_kind::put;  // of that record
  };
  using index = std::unordered_map<std::string, entry>;

  store_result open();
  store_result migrate_files();
  // One write of `pending_` at the end of the log and one fdatasync; on failure the log is cut
  // back to where it was, so a failed batch leaves nothing behind.
  store_result append_pending();
  void forget(index& from, index::iterator at);
  void index_record(snapshot_log::record_kind kind, std::string_view key, std::int64_t expires_at,
                    std::uint64_t offset, std::uint32_t size);
  template <typename Staged>
  void index_all(const std::vector<Staged>& staged) {
    for (const Staged& a : staged) {
      index_record(a.kind, a.key, a.expires_at, a.offset, a.size);
    }
  }
  bool expired(const entry& e, std::int64_t now) const {
    return e.expires_at != 0 && e.expires_at <= now;
  }
  // pread of one entry's record into `buffer`, decoded into `r` (views into `buffer`). !ok when
  // the log cannot be read; `damaged` when its bytes no longer hold the record checked at open.
  store_result read_record(const entry& e, std::string& buffer, snapshot_log::record& r,
                           bool& damaged);
  store_result visit_index(
      index& from, const std::function<void(std::string_view key, std::string_view value)>& visit);
  std::string path_of(std::string_view name) const;

  store_dir dir_;
  clock_fn now_s_;
  log_store_options options_;
  unique_fd log_;
  bool opened_ = false;
  std::uint64_t end_ = 0;  // bytes of the log that hold good records
  index live_;
  index quarantined_;
  std::string pending_;  // records of the batch being appended
  std::vector<std::pair<std::string, std::string>> open_skips_;  // reported by load_all()
  log_store_stats stats_;
};

}  // namespace partyd
