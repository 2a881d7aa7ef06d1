#include "engine/effects.hpp"

#include <utility>

namespace partyd {

void effects::send(connection_id conn, std::uint16_t type, frame_ptr frame) {
  effect e;
  e.kind = effect_kind::send;
  e.conn = conn;
  e.type = type;
  e.frame = std::move(frame);
  list_.push_back(std::move(e));
}

void effects::send_error(connection_id conn, std::uint16_t type, std::string code,
                         frame_ptr frame) {
  effect e;
  e.kind = effect_kind::send;
  e.conn = conn;
  e.type = type;
  e.frame = std::move(frame);
  e.text = std::move(code);
  list_.push_back(std::move(e));
}

void effects::send_roles(role_mask roles, std::uint16_t type, frame_ptr frame,
                         connection_id except) {
  effect e;
  e.kind = effect_kind::send_roles;
  e.roles = roles;
  e.type = type;
  e.frame = std::move(frame);
  e.except = except;
  list_.push_back(std::move(e));
}

void effects::send_reliable(connection_id conn, std::uint16_t type, frame_ptr frame) {
  send(conn, type, std::move(frame));
  list_.back().reliable = true;
}

void effects::send_roles_reliable(role_mask roles, std::uint16_t type, frame_ptr frame,
                                  connection_id except) {
  send_roles(roles, type, std::move(frame), except);
  list_.back().reliable = true;
}

void effects::bind(connection_id conn, role_id role, bool rate_limited) {
  effect e;
  e.kind = effect_kind::bind;
  e.conn = conn;
  e.role = role;
  e.rate_limited = rate_limited;
  list_.push_back(std::move(e));
}

void effects::close_connection(connection_id conn, std::uint16_t code, std::string reason) {
  effect e;
  e.kind = effect_kind::close_connection;
  e.conn = conn;
  e.close_code = code;
  e.text = std::move(reason);
  list_.push_back(std::move(e));
}

void effects::set_timer(std::uint64_t timer_key, time_ms deadline) {
  effect e;
  e.kind = effect_kind::set_timer;
  e.timer_key = timer_key;
  e.deadline = deadline;
  list_.push_back(std::move(e));
}

void effects::cancel_timer(std::uint64_t timer_key) {
  effect e;
  e.kind = effect_kind::cancel_timer;
  e.timer_key = timer_key;
  list_.push_back(std::move(e));
}

void effects::close_room(std::string reason) {
  effect e;
  e.kind = effect_kind::close_room;
  e.text = std::move(reason);
  list_.push_back(std::move(e));
}

void effects::count(std::string counter_name) {
  effect e;
  e.kind = effect_kind::count;
  e.text = std::move(counter_name);
  list_.push_back(std::move(e));
}

void effects::important() {
  effect e;
  e.kind = effect_kind::important;
  list_.push_back(std::move(e));
}

void effects::persist() {
  effect e;
  e.kind = effect_kind::persist;
  list_.push_back(std::move(e));
}

void effects::log(std::string event, boost::json::object fields, bool warn) {
  effect e;
  e.warn = warn;
  e.kind = effect_kind::log;
  e.text = std::move(event);
  e.fields = std::move(fields);
  list_.push_back(std::move(e));
}

void effects::release(connection_id conn, std::string next_message) {
  effect e;
  e.kind = effect_kind::release;
  e.conn = conn;
  e.text = std::move(next_message);
  list_.push_back(std::move(e));
}

void effects::create_room(std::uint64_t request, boost::json::object options) {
  effect e;
  e.kind = effect_kind::create_room;
  e.timer_key = request;
  e.fields = std::move(options);
  list_.push_back(std::move(e));
}

void effects::record(std::string key, boost::json::object record) {
  effect e;
  e.kind = effect_kind::record;
  e.text = std::move(key);
  e.fields = std::move(record);
  list_.push_back(std::move(e));
}

}  // namespace partyd
