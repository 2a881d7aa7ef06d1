#include "io/listener.hpp"

#include <boost/asio/post.hpp>

#include "engine/log.hpp"
#include "io/http_api.hpp"

namespace partyd {

namespace net = boost::asio;
using tcp = net::ip::tcp;

listener::listener(server_context& ctx, std::vector<std::unique_ptr<io_thread>>& threads,
                   const tcp::endpoint& endpoint)
    : ctx_(ctx), threads_(threads), acceptor_(threads.front()->context) {
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(net::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(net::socket_base::max_listen_connections);
}

std::uint16_t listener::port() const { return acceptor_.local_endpoint().port(); }

void listener::start() {
  net::post(acceptor_.get_executor(), [self = shared_from_this()] { self->do_accept(); });
}

void listener::stop() {
  net::post(acceptor_.get_executor(), [self = shared_from_this()] {
    boost::system::error_code ignored;
    self->acceptor_.close(ignored);
  });
}

void listener::do_accept() {
  io_thread& target = *threads_[next_thread_];
  next_thread_ = (next_thread_ + 1) % threads_.size();
  acceptor_.async_accept(target.context, [self = shared_from_this(), &target](
                                             boost::system::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !self->acceptor_.is_open()) {
      return;
    }
    if (ec) {
      // EMFILE and friends: log and keep accepting; the next accept may well succeed.
      log::warn("accept_failed", {{"error", ec.message()}});
    } else {
      socket.set_option(tcp::no_delay(true));
      auto session = std::make_shared<http_session>(self->ctx_, target, std::move(socket));
      net::post(target.context, [session] { session->start(); });
    }
    self->do_accept();
  });
}

}  // namespace partyd
