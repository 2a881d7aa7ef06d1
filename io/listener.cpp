#include "io/listener.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include <boost/asio/post.hpp>

#include "engine/log.hpp"
#include "io/http_api.hpp"

namespace partyd {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

// How long accepting pauses after an accept error that shedding could not clear.
constexpr auto kAcceptBackoff = std::chrono::milliseconds(100);
// Connections shed in one go before the acceptor yields to the thread's other handlers.
constexpr int kShedPerRound = 64;

// Closes with a reset: a refused socket leaves no TIME_WAIT behind and costs nothing more.
void abort_descriptor(int fd) {
  const linger reset{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  ::close(fd);
}

}  // namespace

listener::listener(server_context& ctx, std::vector<std::unique_ptr<io_thread>>& threads,
                   const tcp::endpoint& endpoint)
    : ctx_(ctx),
      threads_(threads),
      acceptor_(threads.front()->context),
      backoff_(threads.front()->context) {
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(net::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(net::socket_base::max_listen_connections);
  acceptor_.non_blocking(true);  // shed_pending() calls accept() directly: it must never block
  reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

listener::~listener() {
  if (reserve_fd_ >= 0) {
    ::close(reserve_fd_);
  }
}

std::uint16_t listener::port() const { return acceptor_.local_endpoint().port(); }

void listener::start() {
  net::post(acceptor_.get_executor(), [self = shared_from_this()] { self->do_accept(); });
}

void listener::stop() {
  net::post(acceptor_.get_executor(), [self = shared_from_this()] {
    boost::system::error_code ignored;
    self->acceptor_.close(ignored);
    self->backoff_.cancel();
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
      self->on_accept_error(ec);  // accepts again, at once or after a pause
      return;
    }
    self->take(std::move(socket), target);
    self->do_accept();
  });
}

void listener::take(tcp::socket socket, io_thread& target) {
  boost::system::error_code ec;
  const tcp::endpoint peer = socket.remote_endpoint(ec);
  if (ec) {
    return;  // the peer is already gone; the socket closes here
  }
  socket_slot slot;
  const server_context::admission admitted = ctx_.admit(peer.address(), slot);
  if (admitted != server_context::admission::admitted) {
    const bool total = admitted == server_context::admission::max_sockets;
    (total ? ctx_.io.refused_max_sockets : ctx_.io.refused_per_ip).inc();
    ctx_.logs.connection_refused.write(
        steady_ms(), {{"reason", total ? "max_sockets" : "max_connections_per_ip"},
                      {"limit", total ? ctx_.max_sockets : ctx_.config.max_connections_per_ip},
                      {"remote", peer.address().to_string()}});
    socket.set_option(net::socket_base::linger(true, 0), ec);  // closed here, with a reset
    return;
  }
  socket.set_option(tcp::no_delay(true), ec);
  auto session = std::make_shared<http_session>(ctx_, target, std::move(socket), std::move(slot));
  net::post(target.context, [session] { session->start(); });
}

void listener::on_accept_error(const boost::system::error_code& ec) {
  ctx_.io.accept_failures.inc();
  ctx_.logs.accept_failed.write(steady_ms(), {{"error", ec.message()}});
  const bool out_of_descriptors =
      ec == net::error::no_descriptors ||
      (ec.category() == boost::system::system_category() && ec.value() == ENFILE);
  if (out_of_descriptors) {
    switch (shed_pending()) {
      case shed_result::more_pending:
        // Let the thread's other handlers run (some may free descriptors), then go on.
        net::post(acceptor_.get_executor(), [self = shared_from_this()] {
          if (self->acceptor_.is_open()) self->do_accept();
        });
        return;
      case shed_result::drained:
        // Linux fails accept() with EMFILE before it looks at the queue: accepting again now
        // would fail at once, forever. Wait until a connection is pending instead.
        acceptor_.async_wait(tcp::acceptor::wait_read,
                             [self = shared_from_this()](const boost::system::error_code& wait_ec) {
                               if (!wait_ec && self->acceptor_.is_open()) self->do_accept();
                             });
        return;
      case shed_result::no_reserve:
        break;
    }
  }
  // Out of memory or buffers, or the reserve is gone: retrying at once would only spin.
  backoff_.expires_after(kAcceptBackoff);
  backoff_.async_wait([self = shared_from_this()](const boost::system::error_code& wait_ec) {
    if (!wait_ec && self->acceptor_.is_open()) {
      self->do_accept();
    }
  });
}

listener::shed_result listener::shed_pending() {
  if (reserve_fd_ < 0) {
    reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    return shed_result::no_reserve;
  }
  ::close(reserve_fd_);
  shed_result result = shed_result::more_pending;
  for (int round = 0; round < kShedPerRound; ++round) {
    const int fd = ::accept4(acceptor_.native_handle(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) {
      abort_descriptor(fd);
      ctx_.io.refused_descriptors.inc();
      continue;
    }
    if (errno == EINTR || errno == ECONNABORTED) {
      continue;
    }
    // EAGAIN: nothing pending any more. Anything else (the freed descriptor was taken by another
    // thread, out of memory): stop too, and wait for the next connection.
    result = shed_result::drained;
    break;
  }
  reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  return reserve_fd_ >= 0 ? result : shed_result::no_reserve;
}

}  // namespace partyd
