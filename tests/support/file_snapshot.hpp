// Reads a room's snapshot behind partyd's back from the embedded file store: `<dir>/<code>.snap`
// holds a header line, then the snapshot bytes (storage/file_store.hpp).
#pragma once

#include <fstream>
#include <iterator>
#include <optional>
#include <string>

namespace partyd::testing {

inline std::optional<std::string> read_file_snapshot(const std::string& dir,
                                                     const std::string& code) {
  std::ifstream in(dir + "/" + code + ".snap", std::ios::binary);
  if (!in) return std::nullopt;
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto newline = content.find('\n');
  if (newline == std::string::npos) return std::nullopt;
  return content.substr(newline + 1);
}

}  // namespace partyd::testing
