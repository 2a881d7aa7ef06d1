#include "engine/effects.hpp"

#include <gtest/gtest.h>

namespace partyd {
namespace {

TEST(effects, starts_empty) {
  effects out;
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(out.list().empty());
}

TEST(effects, records_each_effect_in_order_with_its_fields) {
  effects out;
  const frame_ptr hello = make_frame("hello");
  const frame_ptr error = make_frame("err");
  out.send(7, 2, hello);
  out.send_error(8, 3, "bad_json", error);
  out.send_roles(role_bit(1) | role_bit(2), 4, hello, 7);
  out.bind(9, 2, false);
  out.close_connection(10, 4001, "kicked");
  out.set_timer(11, 123456);
  out.cancel_timer(12);
  out.count("dropped");
  out.important();
  out.close_room("over");

  const auto& l = out.list();
  ASSERT_EQ(l.size(), 10u);
  EXPECT_FALSE(out.empty());

  EXPECT_EQ(l[0].kind, effect_kind::send);
  EXPECT_EQ(l[0].conn, 7u);
  EXPECT_EQ(l[0].type, 2);
  EXPECT_EQ(l[0].frame, hello);
  EXPECT_TRUE(l[0].text.empty());  // not an error: nothing to count

  EXPECT_EQ(l[1].kind, effect_kind::send);
  EXPECT_EQ(l[1].conn, 8u);
  EXPECT_EQ(l[1].type, 3);
  EXPECT_EQ(*l[1].frame, "err");
  EXPECT_EQ(l[1].text, "bad_json");

  EXPECT_EQ(l[2].kind, effect_kind::send_roles);
  EXPECT_EQ(l[2].roles, 0b110);
  EXPECT_EQ(l[2].type, 4);
  EXPECT_EQ(l[2].except, 7u);
  EXPECT_EQ(l[2].frame, hello);  // shared, not copied

  EXPECT_EQ(l[3].kind, effect_kind::bind);
  EXPECT_EQ(l[3].conn, 9u);
  EXPECT_EQ(l[3].role, 2);
  EXPECT_FALSE(l[3].rate_limited);

  EXPECT_EQ(l[4].kind, effect_kind::close_connection);
  EXPECT_EQ(l[4].conn, 10u);
  EXPECT_EQ(l[4].close_code, 4001);
  EXPECT_EQ(l[4].text, "kicked");

  EXPECT_EQ(l[5].kind, effect_kind::set_timer);
  EXPECT_EQ(l[5].timer_key, 11u);
  EXPECT_EQ(l[5].deadline, 123456);

  EXPECT_EQ(l[6].kind, effect_kind::cancel_timer);
  EXPECT_EQ(l[6].timer_key, 12u);

  EXPECT_EQ(l[7].kind, effect_kind::count);
  EXPECT_EQ(l[7].text, "dropped");

  EXPECT_EQ(l[8].kind, effect_kind::important);

  EXPECT_EQ(l[9].kind, effect_kind::close_room);
  EXPECT_EQ(l[9].text, "over");

  out.clear();
  EXPECT_TRUE(out.empty());
}

TEST(effects, send_roles_without_except_excludes_no_one) {
  effects out;
  out.send_roles(0xff, 0, make_frame("x"));
  EXPECT_EQ(out.list()[0].except, 0u);
}

TEST(effects, role_bits_are_distinct) {
  role_mask all = 0;
  for (role_id r = 0; r < max_roles; ++r) {
    EXPECT_EQ(all & role_bit(r), 0);
    all |= role_bit(r);
  }
  EXPECT_EQ(all, 0xff);
}

TEST(effects, a_frame_is_shared_not_copied) {
  const frame_ptr frame = make_frame(std::string(1000, 'x'));
  effects out;
  for (int i = 0; i < 10; ++i) out.send(static_cast<connection_id>(i), 0, frame);
  EXPECT_EQ(frame.use_count(), 11);
  out.clear();
  EXPECT_EQ(frame.use_count(), 1);
}

}  // namespace
}  // namespace partyd
