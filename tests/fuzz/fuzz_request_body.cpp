// Fuzz target: REST request bodies as the server reads them (create, exec, field lists), and
// what the client reads back (workspace lists, exec frames). Only berth::Error may escape.
#include "codec.hpp"
#include "exec_frames.hpp"

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    berth::parse_create_request(text);
  } catch (const berth::Error&) {
  }
  try {
    berth::parse_exec_request(text);
  } catch (const berth::Error&) {
  }
  try {
    berth::workspace_field_mask(text);
  } catch (const berth::Error&) {
  }
  try {
    for (const auto& w : berth::parse_workspace_list(text)) {
      std::string out;
      berth::append_workspace_json(out, w, berth::kAllWorkspaceFields);
    }
  } catch (const berth::Error&) {
  }
  berth::FrameDecoder decoder([](char, std::string_view) {});
  size_t half = text.size() / 2;
  decoder.feed(text.data(), half);
  decoder.feed(text.data() + half, text.size() - half);
  return 0;
}
