#include "probe/probe_game.hpp"

#include <array>
#include <limits>

#include <boost/json.hpp>

#include "engine/check.hpp"
#include "games/common/envelope.hpp"

namespace partyd::testing {

namespace json = boost::json;

namespace {

enum in_type : std::uint16_t { in_join, in_bump, in_draw, in_noop, in_fail, in_reserved };
constexpr std::array<std::string_view, 6> in_names = {"join", "bump", "draw",
                                                      "noop", "fail", "reserved"};
enum out_type : std::uint16_t { out_welcome, out_count, out_draw, out_noop, out_error };
constexpr std::array<std::string_view, 5> out_names = {"welcome", "count", "draw", "noop", "error"};
constexpr std::array<std::string_view, 1> probe_roles = {"player"};

struct probe_command : command {
  std::string room;
};

class probe_game : public game {
 public:
  probe_game(std::string greeting, std::uint64_t n) : greeting_(std::move(greeting)), n_(n) {}

  void step(const input& in, time_ms, room_rng& rng, effects& out) override {
    if (in.kind == input_kind::inactive || in.kind == input_kind::admin_close) {
      out.close_room(in.kind == input_kind::inactive ? "inactive" : "closed_by_admin");
      return;
    }
    if (in.kind != input_kind::command || !in.cmd) {
      return;
    }
    switch (in.cmd->type) {
      case in_join:
        out.bind(in.conn, 0, true);
        reply(in.conn, out_welcome, {{"greeting", greeting_}, {"n", n_}}, out);
        out.important();
        return;
      case in_bump:
        ++n_;
        reply(in.conn, out_count, {{"n", n_}}, out);
        out.important();
        return;
      case in_draw:
        reply(in.conn, out_draw, {{"value", rng.below(1'000'000)}}, out);
        out.important();
        return;
      case in_noop:
        reply(in.conn, out_noop, {}, out);
        out.unchanged();
        return;
      case in_fail:
        ++n_;  // half-updated, as a real bug would leave it
        throw game_rule_violation("probe asked to fail");
      case in_reserved:
        out.set_timer(std::numeric_limits<std::uint64_t>::max() - 1, 0);
        return;
    }
  }

  std::string snapshot() const override {
    return json::serialize(json::object{{"greeting", greeting_}, {"n", n_}});
  }
  room_summary summary() const noexcept override { return {}; }

 private:
  void reply(connection_id conn, out_type type, json::object fields, effects& out) const {
    fields["type"] = out_names[type];
    out.send(conn, type, make_frame(json::serialize(fields)));
  }

  std::string greeting_;
  std::uint64_t n_ = 0;
};

}  // namespace

void probe_module::declare_options(option_list& options, probe_config& config) {
  options.add("probe-greeting", config.greeting, "the probe's welcome text");
}

std::string probe_module::check_config(const probe_config& config) {
  return config.greeting.size() > 64 ? "--probe-greeting must be at most 64 bytes" : "";
}

probe_module::probe_module(probe_config config)
    : module_base(game_name, "/ws/probe", wire_names{probe_roles, in_names, out_names},
                  std::move(config)) {}

decode_result probe_module::decode(std::string_view text, bool first_message) const {
  decode_result result;
  envelope parsed = parse_envelope(text, in_names);
  if (parsed.outcome != envelope::status::ok) {
    result.error = {"bad_request", "expected {\"type\": one of the probe's types}"};
    return result;
  }
  auto cmd = std::make_unique<probe_command>();
  cmd->type = static_cast<std::uint16_t>(parsed.type_index);
  if (first_message) {
    const json::value* room = parsed.object().if_contains("room");
    if (cmd->type != in_join || room == nullptr || !room->is_string()) {
      result.error = {"bad_request", "the first message is join {room}"};
      return result;
    }
    result.room_code = std::string(room->get_string());
  }
  result.cmd = std::move(cmd);
  return result;
}

std::string probe_module::encode_error(std::string_view code, std::string_view message) const {
  return json::serialize(json::object{{"type", "error"}, {"code", code}, {"message", message}});
}

create_result probe_module::create(const boost::json::object&, std::string_view code) const {
  create_result result;
  result.reply["roomCode"] = code;
  result.reply["game"] = game_name;
  result.instance = std::make_unique<probe_game>(config().greeting, 0);
  return result;
}

std::unique_ptr<game> probe_module::restore(std::string_view bytes) const {
  json::error_code ec;
  json::value parsed = json::parse(bytes, ec);
  const json::object* root = ec ? nullptr : parsed.if_object();
  const json::value* n = root ? root->if_contains("n") : nullptr;
  const json::value* greeting = root ? root->if_contains("greeting") : nullptr;
  if (!n || !n->is_number() || !greeting || !greeting->is_string()) {
    return nullptr;
  }
  return std::make_unique<probe_game>(std::string(greeting->get_string()),
                                      n->to_number<std::uint64_t>());
}

}  // namespace partyd::testing
