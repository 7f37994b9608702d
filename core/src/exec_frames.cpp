#include "exec_frames.hpp"

#include <stdexcept>

namespace berth {

std::string encode_frame(char type, std::string_view payload) {
  auto size = static_cast<uint32_t>(payload.size());
  std::string frame;
  frame.reserve(5 + payload.size());
  frame.push_back(type);
  for (int shift = 24; shift >= 0; shift -= 8) frame.push_back(static_cast<char>((size >> shift) & 0xff));
  frame.append(payload);
  return frame;
}

void FrameDecoder::feed(const char* data, size_t size) {
  buffer_.append(data, size);
  size_t offset = 0;
  while (buffer_.size() - offset >= 5) {
    uint32_t length = 0;
    for (int i = 1; i <= 4; ++i) length = (length << 8) | static_cast<unsigned char>(buffer_[offset + i]);
    if (max_frame_ != 0 && length > max_frame_) throw std::length_error("frame of " + std::to_string(length) + " bytes is over the limit");
    if (buffer_.size() - offset - 5 < length) break;
    on_frame_(buffer_[offset], std::string_view(buffer_).substr(offset + 5, length));
    offset += 5 + length;
  }
  buffer_.erase(0, offset);
}

}  // namespace berth
