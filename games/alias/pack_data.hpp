// The shipped word packs as built into the binary: the text of each games/alias/packs/*.json,
// embedded at build time by cmake/embed_packs.cmake (so the server needs no data files).
// Thread: immutable.
#pragma once

#include <span>
#include <string_view>

namespace partyd::alias {

struct pack_source {
  std::string_view file;  // the file's name, for errors
  std::string_view json;
};

std::span<const pack_source> pack_sources();

}  // namespace partyd::alias
