// The record format of the embedded snapshot log (storage/log_store), as pure functions on
// bytes so that the codec can be tested and fuzzed without a file.
//
// A log file is `file_magic` followed by records, each:
//   u32 record_magic | u32 payload size | u32 CRC-32 (zlib) of the size field and the payload |
//   payload: u8 kind | u8 key size | i64 expires_at (unix s, 0 = never) | key | value
// integers little-endian. The magic lets a reader find the next record after a damaged one; the
// CRC tells a record from torn or flipped bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace partyd::snapshot_log {

constexpr std::string_view file_magic = "partyd-snapshot-log 1\n";
constexpr std::uint32_t record_magic = 0x31474c50;  // "PLG1" in file order
constexpr std::size_t record_header_size = 12;      // magic, size, CRC
constexpr std::size_t payload_fixed_size = 10;      // kind, key size, expires_at
constexpr std::size_t key_size_max = 64;
constexpr std::size_t value_size_max = 64u << 20;

enum class record_kind : std::uint8_t {
  put = 1,              // the room's snapshot (live)
  remove = 2,           // the room closed: its live snapshot is gone
  quarantine = 3,       // the live snapshot moves aside (no value: the last put's)
  put_quarantined = 4,  // a quarantined snapshot, written by compaction
};

struct record {
  record_kind kind = record_kind::put;
  std::string_view key;
  std::int64_t expires_at = 0;
  std::string_view value;  // empty for remove and quarantine
};

std::size_t encoded_size(std::size_t key_size, std::size_t value_size);
// Appends one encoded record to `out`. The key must be 1..key_size_max bytes and the value at
// most value_size_max (asserted: the store checks before it encodes).
void append_record(std::string& out, const record& r);

// Decodes the record at the start of `bytes`: its encoded size, or 0 when no good record starts
// there. `r` views into `bytes`.
std::size_t decode(std::string_view bytes, record& r);

struct scan_result {
  std::size_t valid_end = 0;        // offset just past the last good record (or the file magic)
  std::size_t corrupt_records = 0;  // damaged stretches skipped (between good records, or last)
  std::size_t corrupt_bytes = 0;    // bytes in those stretches
  std::size_t torn_bytes = 0;       // bytes after the last good record that hold no good record
};

// Calls `visit(r, offset, size)` for every good record of `log` in order (views into `log`).
// `log` must begin with file_magic, else nothing is visited and valid_end is 0. A damaged
// stretch (bad magic, size or CRC, unknown kind, invalid key) is skipped up to the next good
// record. When none follows, the rest is a damaged record if it holds a whole one (magic, and
// all the bytes its size says) and a torn tail (a write that never finished) otherwise; either
// way valid_end is where it starts.
scan_result scan(
    std::string_view log,
    const std::function<void(const record& r, std::size_t offset, std::size_t size)>& visit);

// Keys are room codes: [A-Za-z0-9_-]{1,64}.
bool valid_key(std::string_view key);

}  // namespace partyd::snapshot_log
