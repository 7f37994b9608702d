#pragma once
// The frames berth's docker provider and berth-agent (the container's PID 1) exchange over the
// agent's Unix socket: a type byte, a 4-byte big-endian length, the payload. Header-only and
// free of berth's libraries, so the static agent and the provider share it. docs/agent.md
// describes the exchange.
#include <cstdint>
#include <string>
#include <string_view>

namespace berth_agent {

// The protocol's version, in the agent's greeting ("berth-agent 1").
inline constexpr std::string_view kGreeting = "berth-agent 1";
// No frame is larger: a request, or a chunk of output or input.
inline constexpr uint32_t kMaxFrame = 1u << 20;
// Where the agent lives in the container, and the folder its socket is in.
inline constexpr const char* kAgentPath = "/.berth/agent";
inline constexpr const char* kSocketFolder = "/.berth/run";
inline constexpr const char* kSocketName = "agent.sock";

// Frame types. Agent to client: hello (the greeting, first), started (the command's pid),
// stdout, stderr, exit (the exit code in decimal, last), error (a message, last). Client to
// agent: request (NUL-separated key=value items: arg, env (repeated), user, workdir, tty,
// rows, cols), input, end of input, resize (rows and columns, 2 bytes each, big-endian),
// signal (its name without SIG).
enum Frame : char {
  hello = 'h',
  started = 'p',
  stdout_data = 'o',
  stderr_data = 'e',
  exit_code = 'x',
  error = '!',
  request = 'q',
  input = 'i',
  end_of_input = 'c',
  resize = 'r',
  signal = 's',
};

inline void append_frame(std::string& out, char type, std::string_view payload) {
  uint32_t size = static_cast<uint32_t>(payload.size());
  char header[5] = {type, static_cast<char>(size >> 24), static_cast<char>(size >> 16), static_cast<char>(size >> 8),
                    static_cast<char>(size)};
  out.append(header, 5);
  out.append(payload);
}

// Takes one whole frame off the front of buffer: its type and payload; false when the
// buffer holds no whole frame yet. A length over kMaxFrame sets `bad`.
inline bool take_frame(std::string& buffer, char& type, std::string& payload, bool& bad) {
  bad = false;
  if (buffer.size() < 5) return false;
  auto byte = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(buffer[i])); };
  uint32_t size = byte(1) << 24 | byte(2) << 16 | byte(3) << 8 | byte(4);
  if (size > kMaxFrame) {
    bad = true;
    return false;
  }
  if (buffer.size() - 5 < size) return false;
  type = buffer[0];
  payload.assign(buffer, 5, size);
  buffer.erase(0, 5 + size);
  return true;
}

}  // namespace berth_agent
