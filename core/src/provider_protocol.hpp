#pragma once
// The provider protocol: what berth-server and a berth-provider-host say to each other over
// their socket. Language-neutral by design (docs/providers.md, "The provider protocol"): every
// frame is one type byte, a 4-byte big-endian length, then that many bytes.
//   'J'  a JSON object: {"type": ..., "id": N, ...}  (hello, refused, call, cancel, progress,
//        result, error; for a watch call: watched (server to host), change (host to server))
//   'o', 'e'  a call's stdout / stderr bytes: a 4-byte big-endian call id, then the bytes
//   'i'  a call's stdin bytes (server to host), same layout
//   'c'  a call's end of stdin: the 4-byte call id
//   'r'  a session's new terminal size (server to host): call id, then rows and cols as 2-byte
//        big-endian numbers
//   's'  a signal for a session's command (server to host): call id, then its name ("INT")
//   'w'  a window update, either way: call id, then a 4-byte big-endian count of data bytes
//        ('i', or 'o' and 'e') of that call the sender has consumed since its last update. A
//        sender keeps at most kStreamWindow bytes unconsumed, so a slow reader holds up only
//        its own stream and memory stays bounded.
#include "codec.hpp"

#include <berth/provider.hpp>

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

namespace berth {

inline constexpr int kProviderProtocolVersion = 2;
// Bytes of one stream's data a sender may have in flight before the reader's window updates.
inline constexpr uint32_t kStreamWindow = 4u << 20;
// A reader sends a window update once it consumed at least this much.
inline constexpr uint32_t kWindowUpdate = 256u << 10;
// A frame longer than this is a broken peer, not data: the connection is dropped.
inline constexpr uint32_t kMaxProviderFrame = 16u << 20;

// Writes whole frames to a socket; several threads may write at once.
class FrameWriter {
 public:
  explicit FrameWriter(int fd) : fd_(fd) {}
  // False when the peer is gone.
  bool json(const Json& message);
  bool data(char type, uint32_t call_id, std::string_view bytes);

 private:
  bool write_all(const std::string& frame);
  int fd_;
  std::mutex mutex_;
};

// A 4-byte big-endian number (a call id, a window update's count), and back.
std::string encode_u32(uint32_t value);
// The 4-byte call id at the front of a data frame, and the rest.
uint32_t frame_call_id(std::string_view payload);
std::string_view frame_bytes(std::string_view payload);

Json abi_facts_to_json(const AbiFacts& facts);
// The facts a library reported, copied as far as its `size` says (an older SDK's are shorter;
// the fields it did not have are 0).
AbiFacts read_abi_facts(const AbiFacts& reported);
// Why a library with `library` facts cannot run in a host with `host` facts; empty when it can.
// Says what to rebuild with.
std::string abi_mismatch(const AbiFacts& library, const AbiFacts& host);

Json status_to_json(const Status& status);
Status status_from_json(const Json& json);
const char* infra_state_name(InfraState state);  // "started", ..., "unknown"
InfraState infra_state_from_name(const std::string& name);
// A watch call's frames: the workspaces the server asks it to watch ("watched": put, drop), and
// what the provider saw ("change").
Json infra_change_to_json(const InfraChange& change);
InfraChange infra_change_from_json(const Json& json);
Json watched_workspace_to_json(const WatchedWorkspace& workspace);
WatchedWorkspace watched_workspace_from_json(const Json& json);
Json exec_request_to_json(const ExecRequest& request);  // without stdin: that goes as frames
ExecRequest exec_request_from_json(const Json& json);

// Kills (SIGKILL) process group `session` and every process left in session `session` but
// `except`: a provider's commands may move to process groups of their own, but they stay in
// the host's session (the host is started with setsid), unless they start sessions themselves.
void kill_session(int session, int except = 0);

Json session_request_to_json(const SessionRequest& request);
SessionRequest session_request_from_json(const Json& json);
// A terminal size as 4 bytes ('r' frames of the provider protocol and of the session stream).
std::string encode_size(int rows, int cols);
bool decode_size(std::string_view bytes, int& rows, int& cols);
// SIGINT for "INT" or "SIGINT"; 0 for a name berth does not pass on.
int signal_number(std::string_view name);

// "signal 11, SIGSEGV" or "exit status 3", from a waitpid status.
std::string describe_wait_status(int status);

}  // namespace berth
