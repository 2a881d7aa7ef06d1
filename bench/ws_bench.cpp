// WebSocket framing micro benchmarks (io/ws_codec, the hand-rolled hot path of the network edge):
// parsing a typical masked client message, framing a flush of N queued server frames into one
// buffer (what an io thread does before its one write()), and UTF-8 validation of a message.
// See bench/README.md.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "io/ws_codec.hpp"

namespace partyd {
namespace {

// A relay set_game_state of ~240 bytes, as partyload's hosts send it.
std::string typical_message() {
  std::string text = R"({"type":"set_game_state","state":{"seq":12345,"t":98765432100,"pad":")";
  text.append(160, 'x');
  text += "\"}}";
  return text;
}

void BM_ws_parse_masked_message(benchmark::State& state) {
  std::string frame;
  ws::append_masked_frame(frame, ws::opcode::text, typical_message(), 0x1234ABCDu);
  const std::string pristine = frame;
  ws::frame_reader reader(64 * 1024, /*expect_masked=*/true);
  std::size_t messages = 0;
  for (auto _ : state) {
    frame = pristine;  // parsing unmasks in place
    reader.parse(frame.data(), frame.size(), [&](const ws::reader_event& event) {
      messages += event.payload.size() > 0;
      return true;
    });
  }
  benchmark::DoNotOptimize(messages);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(frame.size()));
  state.counters["frame_bytes"] = static_cast<double>(frame.size());
}
BENCHMARK(BM_ws_parse_masked_message);

// N frames of ~200 bytes framed behind each other into a reused buffer.
void BM_ws_frame_flush(benchmark::State& state) {
  const std::string payload =
      R"({"type":"game_state","state":{"seq":1,"pad":")" + std::string(150, 'y') + "\"}}";
  const auto frames = static_cast<std::size_t>(state.range(0));
  std::string buffer;
  for (auto _ : state) {
    buffer.clear();
    for (std::size_t i = 0; i < frames; ++i) {
      ws::append_frame(buffer, ws::opcode::text, payload);
    }
    benchmark::DoNotOptimize(buffer.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_ws_frame_flush)->Arg(1)->Arg(16);

void BM_ws_utf8_validate(benchmark::State& state) {
  const std::string text = typical_message();
  for (auto _ : state) {
    benchmark::DoNotOptimize(ws::valid_utf8(text));
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(text.size()));
}
BENCHMARK(BM_ws_utf8_validate);

}  // namespace
}  // namespace partyd
