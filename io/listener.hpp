// Accepts TCP connections on one port and spreads them round-robin over the io threads; each
// connection then lives on its io thread for good.
// Thread: the acceptor runs on io thread 0.
#pragma once

#include <memory>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "io/server_context.hpp"

namespace partyd {

class listener : public std::enable_shared_from_this<listener> {
 public:
  listener(server_context& ctx, std::vector<std::unique_ptr<io_thread>>& threads,
           const boost::asio::ip::tcp::endpoint& endpoint);
  std::uint16_t port() const;
  void start();
  void stop();  // any thread: posts the close to the acceptor's thread

 private:
  void do_accept();

  server_context& ctx_;
  std::vector<std::unique_ptr<io_thread>>& threads_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::size_t next_thread_ = 0;
};

}  // namespace partyd
