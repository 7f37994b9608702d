#pragma once
// The framing of POST /v1/workspaces/NAME/exec's response body, binary-safe and streamable:
// each frame is one type byte, a 4-byte big-endian length, then that many bytes.
//   'o' stdout data, 'e' stderr data, 'x' the exit code as decimal text (the last frame),
//   '!' an error as JSON {"error": {...}} (the last frame).
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace berth {

inline constexpr const char* kExecContentType = "application/vnd.berth.exec-stream";

std::string encode_frame(char type, std::string_view payload);

// Feeds bytes as they come and calls on_frame for each whole frame.
class FrameDecoder {
 public:
  // max_frame: a frame announced longer than this makes feed throw (0: no limit).
  explicit FrameDecoder(std::function<void(char, std::string_view)> on_frame, uint32_t max_frame = 0)
      : on_frame_(std::move(on_frame)), max_frame_(max_frame) {}
  void feed(const char* data, size_t size);
  bool idle() const { return buffer_.empty(); }

 private:
  std::function<void(char, std::string_view)> on_frame_;
  uint32_t max_frame_;
  std::string buffer_;
};

}  // namespace berth
