// The history backends behind open_history_backend (storage/history.hpp); internal to storage/.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "storage/history.hpp"

namespace partyd {

// Opens (and creates) the SQLite file at `path`; `description` is what describe() says.
std::unique_ptr<history_backend> open_sqlite_history(const std::string& path,
                                                     std::string description);
// Checks the URL (libpq's parser); connects at the first call.
std::unique_ptr<history_backend> open_postgres_history(std::string_view url);
// "postgresql://user@host:port/dbname" from the URL's parts, never its password; empty when
// libpq cannot parse it.
std::string describe_postgres_url(std::string_view url);

}  // namespace partyd
