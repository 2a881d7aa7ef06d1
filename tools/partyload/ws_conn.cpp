#include "ws_conn.hpp"

#include <boost/asio/connect.hpp>

namespace partyload {

void ws_conn::connect(const tcp::resolver::results_type& endpoints, const std::string& host,
                      const char* path) {
  if (ws_) drop();
  ++generation_;
  ws_.emplace(ctx_.get_executor());
  head_ = 0;
  count_ = 0;
  writing_ = false;
  expect_close_ = false;
  buffer_.clear();
  connect_started_ns_ = mono_ns();
  ws_->read_message_max(1 << 20);
  ws_->auto_fragment(false);
  ws_->text(true);
  ws_->secure_prng(false);  // masks need not be unpredictable here; the fast generator is cheaper
  const auto gen = generation_;
  net::async_connect(ws_->next_layer().socket(), endpoints,
                     [this, gen, &host, path](beast::error_code ec, const tcp::endpoint&) {
                       if (gen != generation_ || stopped_) return;
                       if (ec) return closed("connect_failed");
                       ws_->next_layer().socket().set_option(tcp::no_delay(true));
                       ws_->next_layer().socket().non_blocking(true);
                       ws_->async_handshake(host, path, [this, gen](beast::error_code e) {
                         if (gen != generation_ || stopped_) return;
                         if (e) return closed("ws_upgrade_failed");
                         open_ = true;
                         on_open();
                         do_read();
                       });
                     });
}

void ws_conn::drop() {
  ++generation_;
  open_ = false;
  if (ws_) {
    beast::error_code ignored;
    ws_->next_layer().socket().close(ignored);
  }
}

std::string& ws_conn::next_frame() {
  if (count_ == ring_.size()) {
    // Grow: put the queued frames first, keep every string's capacity.
    std::vector<std::string> grown(std::max<std::size_t>(4, ring_.size() * 2));
    for (std::size_t i = 0; i < count_; ++i)
      grown[i] = std::move(ring_[(head_ + i) % ring_.size()]);
    ring_ = std::move(grown);
    head_ = 0;
  }
  std::string& slot = ring_[(head_ + count_) % ring_.size()];
  slot.clear();
  return slot;
}

void ws_conn::commit() {
  ++count_;
  histogram::bump(shard_.frames_out);
  if (!writing_ && open_) do_write();
}

void ws_conn::do_write() {
  writing_ = true;
  const auto gen = generation_;
  ws_->async_write(net::buffer(ring_[head_]), [this, gen](beast::error_code ec, std::size_t) {
    if (gen != generation_) return;
    writing_ = false;
    if (ec) return closed("write_failed");
    head_ = (head_ + 1) % ring_.size();
    --count_;
    if (count_ > 0) do_write();
  });
}

void ws_conn::do_read() {
  const auto gen = generation_;
  ws_->async_read(buffer_, [this, gen](beast::error_code ec, std::size_t) {
    if (gen != generation_) return;
    if (ec) {
      if (ec == websocket::error::closed && expect_close_) return closed({});
      if (ec != websocket::error::closed) return closed("connection_lost");
      // closed_by_server:<close code>[:<reason>]
      const auto& why = ws_->reason();
      std::string code = "closed_by_server:" + std::to_string(why.code);
      if (!why.reason.empty()) {
        code += ':';
        code.append(why.reason.data(), why.reason.size());
      }
      return closed(code);
    }
    histogram::bump(shard_.frames_in);
    const auto data = buffer_.cdata();
    on_frame(std::string_view(static_cast<const char*>(data.data()), data.size()));
    buffer_.consume(buffer_.size());
    if (gen == generation_) do_read();
  });
}

void ws_conn::closed(std::string_view code) {
  drop();
  if (stopped_) return;
  if (!code.empty() && !run_.stopping.load(std::memory_order_relaxed)) error(code);
  on_closed(code.empty());
}

}  // namespace partyload
