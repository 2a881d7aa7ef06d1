// The embedded store's format before the snapshot log (storage/log_store): one file per room,
// `<dir>/<key>.snap` (`<key>.quarantine` once the room failed: see snapshot_store::quarantine),
// holding a header line "partyd-snapshot 1 <expires_at_unix_s or 0>\n" and then the snapshot bytes.
// Each write goes to a temp file made durable (fsync, or one syncfs per large batch) and renamed
// over the target; the directory is fsynced once per batch, so a snapshot survives kill -9 and
// power loss. The directory belongs to one process. Today the log store reads such a directory
// once, at upgrade, and the benchmarks measure this store as the baseline it replaced. Thread: one
// thread at a time (the snapshot writer, or the boot loader before it).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "storage/snapshot_store.hpp"
#include "storage/store_dir.hpp"

namespace partyd {

class file_store final : public snapshot_store {
 public:
  using clock_fn = std::function<std::int64_t()>;  // unix seconds

  static constexpr std::size_t key_size_max = 64;
  static constexpr std::size_t file_bytes_max = 64u << 20;  // larger files are skipped at load
  // From this batch size on, one syncfs() replaces the per-file fsync() calls.
  static constexpr std::size_t syncfs_batch_min = 8;

  // Keys must match [A-Za-z0-9_-]{1,64}: they become file names, so nothing else is accepted.
  static bool valid_key(std::string_view key);

  // Does no I/O: the directory is created (mode 0700, parents as needed) on first use.
  // `now_s` is the expiry clock (default: the wall clock); tests inject their own.
  explicit file_store(std::string dir, clock_fn now_s = {});

  std::string describe() const override;  // "file:<dir>"
  // Rejects the whole batch, before writing anything, when a key is not valid_key().
  store_result write(const std::vector<snapshot_record>& records) override;
  store_result remove(const std::vector<std::string>& keys) override;
  // Also deletes expired snapshots and every temp file left by an interrupted write.
  store_result load_all(
      const std::function<void(std::string_view key, std::string_view value)>& visit) override;
  // <key>.snap -> <key>.quarantine (expiry kept); load_quarantined() reads those.
  store_result quarantine(const std::vector<std::string>& keys) override;
  store_result load_quarantined(
      const std::function<void(std::string_view key, std::string_view value)>& visit) override;
  store_result ping() override;  // the directory exists (or can be created) and is writable

  // Every <key>.snap file (or, `quarantined`, every <key>.quarantine) that has not expired, with
  // its expiry (unix s, 0 = never); expired files and temp files are deleted as by load_all().
  using entry_visitor =
      std::function<void(std::string_view key, std::string_view value, std::int64_t expires_at)>;
  store_result load_entries(bool quarantined, const entry_visitor& visit);
  // Deletes the <key>.snap files (or, `quarantined`, the <key>.quarantine files) of `keys`.
  store_result erase_files(const std::vector<std::string>& keys, bool quarantined);
  // The marker is <dir>/.partyd-marker; the directory's device and inode are remembered too.
  store_result check_intact(std::string& lost) override;

  // Snapshot files the last load_all() skipped: unreadable (a directory, a symbolic link, a read
  // error), a malformed or empty header, or a name that is not <key>.snap. Each is also reported
  // to the skip observer.
  std::size_t last_load_skipped() const { return last_load_skipped_; }

 private:
  // Writes one record to a fresh temp file (fsynced when `sync`); fills `temp` with its path.
  store_result write_temp(const snapshot_record& record, std::int64_t now_s, bool sync,
                          std::string& temp);
  // `apply` (unlink, rename: 0 or -1 with errno) on each valid key's snapshot file; a missing
  // file is not an error. Then one directory sync.
  store_result per_snapshot_file(
      const std::vector<std::string>& keys, std::string_view what,
      const std::function<int(const std::string& path, const std::string& key)>& apply);

  store_dir dir_;
  clock_fn now_s_;
  std::uint64_t temp_counter_ = 0;
  std::size_t last_load_skipped_ = 0;
};

}  // namespace partyd
