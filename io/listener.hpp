// Accepts TCP connections on one port and spreads them round-robin over the io threads; each
// connection then lives on its io thread for good.
// Every accepted socket counts against --max-sockets and --max-connections-per-ip from accept to
// close; a socket over either limit is closed at once (counted, logged at a bounded rate). When
// the process is out of descriptors (EMFILE) pending connections are accepted on a reserved
// descriptor and closed, and the acceptor then waits for the next connection instead of failing
// again at once, so the accept loop neither spins nor leaves clients hanging; if even that fails,
// accepting pauses for a moment.
// Thread: the acceptor runs on io thread 0.
#pragma once

#include <memory>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "io/server_context.hpp"

namespace partyd {

class listener : public std::enable_shared_from_this<listener> {
 public:
  listener(server_context& ctx, std::vector<std::unique_ptr<io_thread>>& threads,
           const boost::asio::ip::tcp::endpoint& endpoint);
  ~listener();
  std::uint16_t port() const;
  void start();
  void stop();  // any thread: posts the close to the acceptor's thread

 private:
  void do_accept();
  void take(boost::asio::ip::tcp::socket socket, io_thread& target);
  void on_accept_error(const boost::system::error_code& ec);
  enum class shed_result { more_pending, drained, no_reserve };
  // EMFILE: frees the reserved descriptor, accepts pending connections on it and closes each
  // (a bounded number per call), then takes the reserve back. no_reserve: it could not be used
  // or taken back (then accepting pauses).
  shed_result shed_pending();

  server_context& ctx_;
  std::vector<std::unique_ptr<io_thread>>& threads_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer backoff_;
  int reserve_fd_ = -1;  // a descriptor held back for shed_pending()
  std::size_t next_thread_ = 0;
};

}  // namespace partyd
