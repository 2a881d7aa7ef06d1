#include "storage/log_codec.hpp"

#include <zlib.h>

#include <cassert>
#include <cstring>

namespace partyd::snapshot_log {
namespace {

void put_u32(std::string& out, std::uint32_t v) {
  char bytes[4];
  for (int i = 0; i < 4; ++i) {
    bytes[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  }
  out.append(bytes, 4);
}

void put_u64(std::string& out, std::uint64_t v) {
  char bytes[8];
  for (int i = 0; i < 8; ++i) {
    bytes[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  }
  out.append(bytes, 8);
}

std::uint64_t get_le(const char* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) {
    v = (v << 8) | static_cast<unsigned char>(p[i]);
  }
  return v;
}

std::uint32_t crc_of(std::string_view bytes) {
  return static_cast<std::uint32_t>(
      ::crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
}

bool known_kind(std::uint8_t kind) {
  return kind >= static_cast<std::uint8_t>(record_kind::put) &&
         kind <= static_cast<std::uint8_t>(record_kind::put_quarantined);
}

}  // namespace

std::size_t decode(std::string_view bytes, record& r) {
  if (bytes.size() < record_header_size + payload_fixed_size ||
      get_le(bytes.data(), 4) != record_magic) {
    return 0;
  }
  const std::uint64_t payload_size = get_le(bytes.data() + 4, 4);
  if (payload_size < payload_fixed_size ||
      payload_size > payload_fixed_size + key_size_max + value_size_max ||
      payload_size > bytes.size() - record_header_size) {
    return 0;
  }
  const std::string_view checked = bytes.substr(4, 4);
  const std::string_view payload = bytes.substr(record_header_size, payload_size);
  std::uint32_t crc = crc_of(checked);
  crc = static_cast<std::uint32_t>(::crc32(crc, reinterpret_cast<const Bytef*>(payload.data()),
                                           static_cast<uInt>(payload.size())));
  if (crc != get_le(bytes.data() + 8, 4)) {
    return 0;
  }
  const auto kind = static_cast<std::uint8_t>(payload[0]);
  const auto key_size = static_cast<std::size_t>(static_cast<unsigned char>(payload[1]));
  if (!known_kind(kind) || key_size > payload.size() - payload_fixed_size) {
    return 0;
  }
  r.kind = static_cast<record_kind>(kind);
  r.expires_at = static_cast<std::int64_t>(get_le(payload.data() + 2, 8));
  r.key = payload.substr(payload_fixed_size, key_size);
  r.value = payload.substr(payload_fixed_size + key_size);
  if (!valid_key(r.key) || r.expires_at < 0) {
    return 0;
  }
  return record_header_size + payload_size;
}

bool valid_key(std::string_view key) {
  if (key.empty() || key.size() > key_size_max) {
    return false;
  }
  for (const char ch : key) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

std::size_t encoded_size(std::size_t key_size, std::size_t value_size) {
  return record_header_size + payload_fixed_size + key_size + value_size;
}

void append_record(std::string& out, const record& r) {
  assert(!r.key.empty() && r.key.size() <= key_size_max && r.value.size() <= value_size_max);
  const std::size_t start = out.size();
  const std::size_t payload_size = payload_fixed_size + r.key.size() + r.value.size();
  put_u32(out, record_magic);
  put_u32(out, static_cast<std::uint32_t>(payload_size));
  put_u32(out, 0);  // the CRC, filled in below
  out.push_back(static_cast<char>(r.kind));
  out.push_back(static_cast<char>(r.key.size()));
  put_u64(out, static_cast<std::uint64_t>(r.expires_at));
  out.append(r.key);
  out.append(r.value);
  const std::string_view written(out.data() + start, out.size() - start);
  std::uint32_t crc = crc_of(written.substr(4, 4));
  crc = static_cast<std::uint32_t>(
      ::crc32(crc, reinterpret_cast<const Bytef*>(written.data() + record_header_size),
              static_cast<uInt>(payload_size)));
  for (int i = 0; i < 4; ++i) {
    out[start + 8 + static_cast<std::size_t>(i)] = static_cast<char>((crc >> (8 * i)) & 0xff);
  }
}

scan_result scan(
    std::string_view log,
    const std::function<void(const record& r, std::size_t offset, std::size_t size)>& visit) {
  scan_result result;
  if (log.substr(0, file_magic.size()) != file_magic) {
    return result;
  }
  char magic_bytes[4];
  for (int i = 0; i < 4; ++i) {
    magic_bytes[i] = static_cast<char>((record_magic >> (8 * i)) & 0xff);
  }
  const std::string_view magic(magic_bytes, 4);
  std::size_t pos = file_magic.size();
  result.valid_end = pos;
  record r;
  while (pos < log.size()) {
    if (const std::size_t size = decode(log.substr(pos), r); size != 0) {
      visit(r, pos, size);
      pos += size;
      result.valid_end = pos;
      continue;
    }
    // Damaged from `pos`: the next good record ends the stretch; none means a torn tail.
    std::size_t next = pos;
    std::size_t size = 0;
    while ((next = log.find(magic, next + 1)) != std::string_view::npos) {
      if ((size = decode(log.substr(next), r)) != 0) {
        break;
      }
    }
    if (next == std::string_view::npos) {
      // A whole record (its magic, and as many bytes as its size says) with a bad CRC is damage
      // that happens to be last; anything shorter is a write that never finished.
      const std::string_view rest = log.substr(pos);
      const bool whole = rest.size() >= record_header_size &&
                         get_le(rest.data(), 4) == record_magic &&
                         get_le(rest.data() + 4, 4) <= rest.size() - record_header_size;
      if (whole) {
        ++result.corrupt_records;
        result.corrupt_bytes += rest.size();
      } else {
        result.torn_bytes = rest.size();
      }
      break;
    }
    ++result.corrupt_records;
    result.corrupt_bytes += next - pos;
    pos = next;
  }
  return result;
}

}  // namespace partyd::snapshot_log
