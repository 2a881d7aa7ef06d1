// The one translation unit that compiles Asio and Beast (BOOST_*_SEPARATE_COMPILATION), so the
// rest of the build only parses their headers.
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
