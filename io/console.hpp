// The web console (docs/operations.md, "Web console"): its files at / and /console/, and the
// summaries its dashboard reads (GET /api/stats, the stream of GET /api/stats/stream) and its
// playground (GET /api/games).
// Thread: any (reads metrics and the runtime's immutable module list).
#pragma once

#include <optional>
#include <string>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/object.hpp>

#include "engine/metrics.hpp"
#include "io/server_context.hpp"

namespace partyd {

// The headers every console answer carries: no framing, no inline script, nothing from elsewhere.
inline constexpr std::string_view kConsoleCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

// GET / (index.html) and GET /console/<path>: the file with its type and the console headers;
// nullopt when the path is neither (or names no file: the caller answers 404). `dir`
// (--console-dir): read the files from there instead of the copy built into the binary.
std::optional<boost::beast::http::response<boost::beast::http::string_body>> console_file(
    const boost::beast::http::request<boost::beast::http::string_body>& request,
    const std::string& dir);

// The dashboard's numbers now. `since` (may be null): the step-latency buckets at the previous
// summary, so that p50/p99 are over the interval between them; it is updated.
boost::json::object stats_json(server_context& ctx, metrics_registry::histogram_totals* since);

// The games and where their clients connect.
boost::json::object games_json(const server_context& ctx);

}  // namespace partyd
