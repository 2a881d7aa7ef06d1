// Where workers hand a room's records for a database (Mafia's finished games): a JSON object the
// backend maps onto its tables, keyed so that writing it twice adds nothing. Implemented at start-
// up over storage/history_writer (io/server_main.cpp). The room keeps each record in its state
// (and so in its snapshot) until on_written says it is in the database: a crash in between loses
// nothing, the restored room offers it again.
// Thread safety: offer() is called from worker threads and must not block; on_written may run on
// any thread.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

namespace partyd {

class record_sink {
 public:
  virtual ~record_sink() = default;
  // True when the record was taken (on_written follows once it is written); false when the sink
  // cannot take it now (its queue is full): the room offers it again later.
  virtual bool offer(std::string_view game, const boost::json::object& record,
                     std::function<void()> on_written) = 0;
};

}  // namespace partyd
