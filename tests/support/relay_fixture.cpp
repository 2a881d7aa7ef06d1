#include "support/relay_fixture.hpp"

#include <boost/json.hpp>

namespace partyd::testing {

namespace json = boost::json;

json::object handshake_message(const std::string& room_code, const std::string& role,
                               json::object extra) {
  json::object message{{"type", "handshake"}, {"roomCode", room_code}, {"role", role}};
  for (auto& [key, value] : extra) {
    message[key] = value;
  }
  return message;
}

void relay_fixture::start_server(std::vector<std::string> extra_args) {
  server_ = std::make_unique<test_server>(std::move(extra_args));
  ASSERT_TRUE(server_->started()) << "partyd did not start";
}

relay_room relay_fixture::create_room(const json::object& options) {
  const json::object reply = server_->create_relay_room(options);
  relay_room room{str(reply, "roomCode"), str(reply, "hostKey")};
  EXPECT_FALSE(room.code.empty()) << json::serialize(reply);
  EXPECT_FALSE(room.host_key.empty()) << json::serialize(reply);
  return room;
}

std::unique_ptr<ws_client> relay_fixture::connect(connect_options options) {
  auto client = std::make_unique<ws_client>();
  if (!client->connect(server_->port(), relay_path(), options)) {
    ADD_FAILURE() << "WebSocket connect to " << relay_path() << " failed: " << client->last_error()
                  << " (HTTP " << client->upgrade_status() << ")";
    return nullptr;
  }
  return client;
}

std::pair<std::unique_ptr<ws_client>, std::optional<json::object>> relay_fixture::try_handshake(
    const json::object& handshake, connect_options options) {
  auto client = connect(options);
  if (!client) {
    return {nullptr, std::nullopt};
  }
  EXPECT_TRUE(client->send(handshake));
  auto first = client->receive();
  return {std::move(client), std::move(first)};
}

joined relay_fixture::join(const json::object& handshake, connect_options options) {
  auto [client, first] = try_handshake(handshake, options);
  if (!client) {
    return {};
  }
  if (!first || str(*first, "type") != "handshake_response" || str(*first, "status") != "success") {
    ADD_FAILURE() << "handshake " << json::serialize(handshake) << " failed: " << dump(first);
    return {};
  }
  joined result;
  result.ws = std::move(client);
  result.response = std::move(*first);
  result.client_id = str(result.response, "clientId");
  result.seat_token = str(result.response, "seatToken");
  return result;
}

joined relay_fixture::join_host(const relay_room& room) {
  return join(handshake_message(room.code, "host", {{"hostKey", room.host_key}}));
}

joined relay_fixture::join_player(const relay_room& room, json::object extra,
                                  connect_options options) {
  return join(handshake_message(room.code, "player", std::move(extra)), options);
}

joined relay_fixture::join_audience(const relay_room& room, json::object extra) {
  return join(handshake_message(room.code, "audience", std::move(extra)));
}

::testing::AssertionResult host_got_nothing_more(ws_client& host) {
  const std::string probe = "probe-no-such-poll";
  if (!host.send(json::object{{"type", "poll_results_request"}, {"pollId", probe}})) {
    return ::testing::AssertionFailure() << "could not send the probe";
  }
  auto frame = host.receive();
  if (frame && str(*frame, "type") == "error" && str(*frame, "code") == "poll_not_found") {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "expected nothing before the probe's poll_not_found, got " << dump(frame);
}

::testing::AssertionResult next_is_error(ws_client& client, const std::string& code,
                                         std::optional<std::string> request_type,
                                         std::chrono::milliseconds timeout) {
  auto frame = client.receive(timeout);
  if (!frame || str(*frame, "type") != "error" || str(*frame, "code") != code) {
    return ::testing::AssertionFailure() << "expected error " << code << ", got " << dump(frame);
  }
  if (str(*frame, "message").empty()) {
    return ::testing::AssertionFailure() << "error without a message: " << dump(frame);
  }
  if (request_type) {
    if (str(*frame, "requestType") != *request_type) {
      return ::testing::AssertionFailure()
             << "expected requestType " << *request_type << ": " << dump(frame);
    }
  } else if (frame->contains("requestType")) {
    return ::testing::AssertionFailure() << "expected no requestType: " << dump(frame);
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult handshake_refused(ws_client& client,
                                             const std::optional<json::object>& first,
                                             const std::string& code) {
  if (!first || str(*first, "code") != code) {
    return ::testing::AssertionFailure()
           << "expected a handshake error " << code << ", got " << dump(first);
  }
  if (str(*first, "type") != "handshake_response" || str(*first, "status") != "error") {
    return ::testing::AssertionFailure()
           << "expected {type:handshake_response,status:error,code:" << code << "}, got "
           << dump(first);
  }
  return closed_with(client, 1008, code);
}

::testing::AssertionResult closed_with(ws_client& client, std::uint16_t code,
                                       const std::string& reason,
                                       std::chrono::milliseconds timeout) {
  const close_info info = client.expect_closed(timeout);
  if (!info.close_frame || info.code != code || info.reason != reason) {
    auto failure = ::testing::AssertionFailure();
    failure << "expected close " << code << " '" << reason << "', got " << info;
    if (!client.skipped().empty()) {
      failure << " (after frames: " << client.skipped().back() << ")";
    }
    return failure;
  }
  return ::testing::AssertionSuccess();
}

}  // namespace partyd::testing
