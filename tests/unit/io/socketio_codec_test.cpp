// Engine.IO / Socket.IO packets and the mapping of events onto the games' JSON messages
// (io/socketio_codec, docs/protocol/socketio.md).
#include <gtest/gtest.h>

#include "io/socketio_codec.hpp"

namespace partyd::sio {
namespace {

TEST(SocketioPacket, ParsesTypeNamespaceAckIdAndData) {
  const packet event = parse_packet("2[\"handshake\",{\"role\":\"host\"}]");
  EXPECT_EQ(event.what, packet::kind::event);
  EXPECT_EQ(event.nsp, "/");
  EXPECT_EQ(event.ack_id, -1);
  EXPECT_EQ(event.data, "[\"handshake\",{\"role\":\"host\"}]");

  const packet acked = parse_packet("212[\"chat:send\"]");
  EXPECT_EQ(acked.what, packet::kind::event);
  EXPECT_EQ(acked.ack_id, 12);
  EXPECT_EQ(acked.data, "[\"chat:send\"]");

  const packet connect = parse_packet("0/admin,{\"token\":\"x\"}");
  EXPECT_EQ(connect.what, packet::kind::connect);
  EXPECT_EQ(connect.nsp, "/admin");
  EXPECT_EQ(connect.data, "{\"token\":\"x\"}");

  EXPECT_EQ(parse_packet("0").what, packet::kind::connect);
  EXPECT_EQ(parse_packet("0").data, "");
  EXPECT_EQ(parse_packet("1").what, packet::kind::disconnect);
  EXPECT_EQ(parse_packet("51-[\"x\",{\"_placeholder\":true,\"num\":0}]").what,
            packet::kind::binary_event);
  EXPECT_EQ(parse_packet("").what, packet::kind::invalid);
  EXPECT_EQ(parse_packet("9").what, packet::kind::invalid);
  EXPECT_EQ(parse_packet("21234567890123456[\"x\"]").what, packet::kind::invalid);
}

TEST(SocketioEvent, AFlatGameGetsTheArgumentsMembersBesideType) {
  std::string message;
  std::string type;
  event_error error;
  // The argument's text is kept as it was written: numbers, escapes and order.
  ASSERT_TRUE(event_to_message(
      R"(["set_game_state",{"state":{"n":1.10,"big":123456789012345678901234567890}}])",
      shape::flat, message, type, error));
  EXPECT_EQ(message,
            R"({"type":"set_game_state","state":{"n":1.10,"big":123456789012345678901234567890}})");
  EXPECT_EQ(type, "set_game_state");
  ASSERT_TRUE(event_to_message(R"(["leave"])", shape::flat, message, type, error));
  EXPECT_EQ(message, R"({"type":"leave"})");
  ASSERT_TRUE(event_to_message(R"([ "leave" , { } ])", shape::flat, message, type, error));
  EXPECT_EQ(message, R"({"type":"leave"})");
}

TEST(SocketioEvent, APayloadGameGetsTheArgumentAsPayloadAndTheSecondAsMembers) {
  std::string message;
  std::string type;
  event_error error;
  ASSERT_TRUE(event_to_message(R"(["room:join",{"roomCode":"K7QMAF"}])", shape::payload, message,
                               type, error));
  EXPECT_EQ(message, R"({"type":"room:join","payload":{"roomCode":"K7QMAF"}})");
  ASSERT_TRUE(event_to_message(R"(["chat:send",{"message":"hi"},{"clientMsgId":"m1"}])",
                               shape::payload, message, type, error));
  EXPECT_EQ(message, R"({"type":"chat:send","payload":{"message":"hi"},"clientMsgId":"m1"})");
  ASSERT_TRUE(event_to_message(R"(["room:ready"])", shape::payload, message, type, error));
  EXPECT_EQ(message, R"({"type":"room:ready","payload":{}})");
}

TEST(SocketioEvent, WhatIsNotAnEventOfTheShapeIsABadRequest) {
  std::string message;
  std::string type;
  for (const char* data :
       {"", "[]", "[1]", "{\"a\":1}", "[\"x\",1]", "[\"x\",[1]]", "[\"x\",\"s\"]", "[\"x\",{}",
        "[\"x\",{}]trailing", "[\"x\",{},{},{}]", "[\"x\",{\"a\":\"]"}) {
    event_error error;
    EXPECT_FALSE(event_to_message(data, shape::payload, message, type, error)) << data;
    EXPECT_EQ(error.code, "bad_request") << data;
  }
  event_error error;
  // A flat game's messages have no second argument.
  EXPECT_FALSE(event_to_message(R"(["x",{},{}])", shape::flat, message, type, error));
  EXPECT_FALSE(event_to_message(R"(["x",{},"more"])", shape::payload, message, type, error));
}

TEST(SocketioEvent, AFlatFrameBecomesOneEventWithTheRestAsItsArgument) {
  std::string out;
  ASSERT_TRUE(
      append_event(out, R"({"type":"game_state","state":{"n":1.10}})", shape::flat, {}, {}));
  EXPECT_EQ(out, R"(42["game_state",{"state":{"n":1.10}}])");
  out.clear();
  ASSERT_TRUE(append_event(out, R"({"type":"room_closed"})", shape::flat, {}, {}));
  EXPECT_EQ(out, R"(42["room_closed",{}])");
  // A session's numbered copy: the members go first, the offset last.
  out.clear();
  ASSERT_TRUE(append_event(out, R"({"type":"game_state","state":1})", shape::flat,
                           R"("sequenceId":7)", "7"));
  EXPECT_EQ(out, R"(42["game_state",{"sequenceId":7,"state":1},"7"])");
  out.clear();
  ASSERT_TRUE(append_event(out, R"({"type":"x"})", shape::flat, R"("sequenceId":8)", {}));
  EXPECT_EQ(out, R"(42["x",{"sequenceId":8}])");
  // `type` not first: the slow path finds it.
  out.clear();
  ASSERT_TRUE(
      append_event(out, R"({"sequenceId":3,"type":"x","a":[1,{"b":"}"}]})", shape::flat, {}, "3"));
  EXPECT_EQ(out, R"(42["x",{"sequenceId":3,"a":[1,{"b":"}"}]},"3"])");
}

TEST(SocketioEvent, APayloadFrameBecomesThePayloadAndTheOtherMembers) {
  std::string out;
  ASSERT_TRUE(append_event(out, R"({"type":"room:update","payload":{"status":"lobby"}})",
                           shape::payload, {}, {}));
  EXPECT_EQ(out, R"(42["room:update",{"status":"lobby"}])");
  out.clear();
  ASSERT_TRUE(append_event(out, R"({"type":"game:role","payload":{"role":"doctor"}})",
                           shape::payload, R"("sequenceId":4)", "4"));
  EXPECT_EQ(out, R"(42["game:role",{"role":"doctor"},{"sequenceId":4},"4"])");
  out.clear();
  ASSERT_TRUE(append_event(out, R"({"type":"CONNECTED","roomId":"AB","payload":{"s":1}})",
                           shape::payload, {}, {}));
  EXPECT_EQ(out, R"(42["CONNECTED",{"s":1},{"roomId":"AB"}])");
  out.clear();
  ASSERT_TRUE(append_event(out, R"({"type":"room:left"})", shape::payload, {}, {}));
  EXPECT_EQ(out, R"(42["room:left",{}])");
}

TEST(SocketioEvent, FramesThatAreNotObjectsWithATypeAppendNothing) {
  std::string out = "kept";
  for (const char* frame : {"", "[]", "{}", "{\"type\":1}", "{\"a\":1", "not json"}) {
    EXPECT_FALSE(append_event(out, frame, shape::flat, {}, {})) << frame;
    EXPECT_FALSE(append_event(out, frame, shape::payload, {}, {})) << frame;
  }
  EXPECT_EQ(out, "kept");
}

TEST(SocketioPackets, OpenConnectAckAndErrors) {
  EXPECT_EQ(
      open_packet("abc", true, 25000, 20000, 100000),
      R"(0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":100000})");
  EXPECT_EQ(open_packet("abc", false, 1, 2, 3),
            R"(0{"sid":"abc","upgrades":[],"pingInterval":1,"pingTimeout":2,"maxPayload":3})");
  EXPECT_EQ(connect_packet("s1", {}), R"(40{"sid":"s1"})");
  EXPECT_EQ(connect_packet("s1", "p1"), R"(40{"sid":"s1","pid":"p1"})");
  EXPECT_EQ(connect_error_packet("Invalid namespace"), R"(44{"message":"Invalid namespace"})");
  EXPECT_EQ(connect_error_packet("unauthorized", "missing_token"),
            R"(44{"message":"unauthorized","data":{"code":"missing_token"}})");
  EXPECT_EQ(ack_packet(3, R"({"ok":true})"), R"(433[{"ok":true}])");
  EXPECT_EQ(http_error_body(http_error::unknown_sid),
            R"({"code":1,"message":"Session ID unknown"})");
  EXPECT_EQ(http_error_body(http_error::bad_request, "unknown_game"),
            R"({"code":3,"message":"Bad request","error":"unknown_game"})");
}

TEST(SocketioJson, MembersAndArrayElements) {
  const std::string_view object = R"({"a":{"b":"x"},"pid":"p\"q","offset":"12","n":[1,2]})";
  EXPECT_EQ(raw_member(object, "a"), R"({"b":"x"})");
  EXPECT_EQ(raw_member(object, "n"), "[1,2]");
  EXPECT_EQ(raw_member(object, "missing"), "");
  EXPECT_EQ(string_member(object, "offset"), "12");
  EXPECT_EQ(string_member(object, "pid"), "");  // escapes: not a plain string
  EXPECT_EQ(string_member("", "pid"), "");
  const auto elements = array_elements(R"([{"a":1}, "s" ,3])");
  ASSERT_EQ(elements.size(), 3u);
  EXPECT_EQ(elements[0], R"({"a":1})");
  EXPECT_EQ(elements[1], R"("s")");
  EXPECT_EQ(elements[2], "3");
  EXPECT_TRUE(array_elements("[1,").empty());
  EXPECT_EQ(without_member(R"({"a":1,"missedEvents":[{"x":"]"}],"b":2})", "missedEvents"),
            R"({"a":1,"b":2})");
  EXPECT_EQ(without_member(R"({"a":1})", "missedEvents"), R"({"a":1})");
  EXPECT_EQ(without_member(R"({"missedEvents":[]})", "missedEvents"), "{}");
  EXPECT_TRUE(array_elements("[]").empty());
}

}  // namespace
}  // namespace partyd::sio
