// The web console's files (console/), built into the binary by cmake/embed_files.cmake.
// Thread: immutable data; any thread.
#pragma once

#include <span>
#include <string_view>

namespace partyd {

struct embedded_file {
  std::string_view path;  // relative to console/, e.g. "index.html", "vendor/uPlot.min.css"
  std::string_view bytes;
};

std::span<const embedded_file> console_files();

}  // namespace partyd
