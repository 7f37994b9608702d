#include "stream_relay.hpp"

#include "codec.hpp"
#include "errors.hpp"
#include "exec_frames.hpp"
#include "provider_protocol.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <optional>

namespace berth::cli {
namespace {

// How long the command has to end after a second Ctrl-C, SIGTERM or SIGHUP before the CLI
// leaves it: a provider may be unable to deliver a signal (one without sessions of its own runs
// the command through exec), and a terminal or a CI job's timeout must still end berth exec.
constexpr auto kSignalGrace = std::chrono::seconds(2);

// Signals arrive here and are read in the relay loop (a self-pipe).
int signal_pipe[2] = {-1, -1};

void on_signal(int number) {
  int saved = errno;
  char byte = static_cast<char>(number);
  [[maybe_unused]] ssize_t n = ::write(signal_pipe[1], &byte, 1);
  errno = saved;
}

// Takes the given signals for the life of the object, and gives them back.
class SignalCatcher {
 public:
  explicit SignalCatcher(std::initializer_list<int> numbers) {
    if (signal_pipe[0] < 0 && ::pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) throw unavailable("out of descriptors");
    for (int number : numbers) {
      struct sigaction action {};
      action.sa_handler = on_signal;
      sigemptyset(&action.sa_mask);
      struct sigaction old {};
      ::sigaction(number, &action, &old);
      saved_.push_back({number, old});
    }
  }
  ~SignalCatcher() {
    for (const auto& [number, old] : saved_) ::sigaction(number, &old, nullptr);
  }
  int fd() const { return signal_pipe[0]; }

 private:
  std::vector<std::pair<int, struct sigaction>> saved_;
};

// Puts a terminal in raw mode for the life of the object.
class RawTerminal {
 public:
  explicit RawTerminal(int fd) : fd_(fd) {
    if (::tcgetattr(fd, &saved_) != 0) return;
    termios raw = saved_;
    ::cfmakeraw(&raw);
    active_ = ::tcsetattr(fd, TCSANOW, &raw) == 0;
  }
  ~RawTerminal() {
    if (active_) ::tcsetattr(fd_, TCSAFLUSH, &saved_);
  }

 private:
  int fd_;
  termios saved_{};
  bool active_ = false;
};

bool send_all(int sock, const std::string& bytes) {
  for (size_t done = 0; done < bytes.size();) {
    ssize_t n = ::send(sock, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

const char* signal_name(int number) {
  switch (number) {
    case SIGINT: return "INT";
    case SIGTERM: return "TERM";
    case SIGHUP: return "HUP";
    case SIGQUIT: return "QUIT";
    default: return nullptr;
  }
}

}  // namespace

bool terminal_size(int fd, int& rows, int& cols) {
  winsize size{};
  if (::ioctl(fd, TIOCGWINSZ, &size) != 0 || size.ws_row == 0) return false;
  rows = size.ws_row;
  cols = size.ws_col;
  return true;
}

void ask_for_terminal(nlohmann::json& body) {
  int rows = 24, cols = 80;
  terminal_size(0, rows, cols);
  body["tty"] = true;
  body["rows"] = rows;
  body["cols"] = cols;
  const char* term = std::getenv("TERM");
  if (!body.contains("env") || !body["env"].is_object()) body["env"] = nlohmann::json::object();
  if (!body["env"].contains("TERM")) body["env"]["TERM"] = term && *term ? term : "xterm-256color";
}

int relay_stream(const std::function<int()>& open, const RelayOptions& options) {
  SignalCatcher signals(options.forward_signals ? std::initializer_list<int>{SIGWINCH, SIGINT, SIGTERM, SIGHUP, SIGQUIT}
                                                : std::initializer_list<int>{SIGWINCH, SIGTERM, SIGHUP});
  int sock = open();
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{sock};
  std::optional<int> exit_code;
  std::optional<Error> failure;
  bool output_broken = false;
  FrameDecoder decoder([&](char type, std::string_view payload) {
    switch (type) {
      case 'o':
        if (!output_broken && !write_all(options.output, payload)) output_broken = true;
        break;
      case 'e':
        if (!output_broken && !write_all(options.error_output, payload)) output_broken = true;
        break;
      case 'x': exit_code = std::atoi(std::string(payload).c_str()); break;
      case '!': {
        Json body = Json::parse(payload, nullptr, false);
        Json error = body.is_object() ? body.value("error", Json::object()) : Json::object();
        failure = Error(error.value("code", "internal"), error.value("message", "the server ended " + options.what + " with an error"));
        break;
      }
      default: break;
    }
  });

  std::optional<RawTerminal> raw;
  if (options.terminal && options.input >= 0 && ::isatty(options.input) == 1) raw.emplace(options.input);
  bool input_open = options.input >= 0;
  // Secrets for the command (berth ssh --stdio's keys) go in its input, never in its argv.
  if (!options.preamble.empty()) send_all(sock, encode_frame('i', options.preamble));
  // A stream the server already ended (a refusal) still has its '!' frame to read.
  if (!input_open) send_all(sock, encode_frame('c', {}));
  char buffer[65536];
  bool hung_up = false;
  int interrupts = 0;
  int ending_signal = 0;  // the signal after which the CLI leaves at leave_at
  std::chrono::steady_clock::time_point leave_at{};
  bool hint_pending = false;  // after a first Ctrl-C: say at hint_at how to leave
  std::chrono::steady_clock::time_point hint_at{};
  while (!exit_code && !failure && !output_broken) {
    int timeout_ms = -1;
    auto now = std::chrono::steady_clock::now();
    auto ms_until = [&](std::chrono::steady_clock::time_point at) {
      return static_cast<int>(std::max<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(at - now).count(), 0));
    };
    if (ending_signal != 0) {
      if (now >= leave_at) break;
      timeout_ms = ms_until(leave_at);
    } else if (hint_pending) {
      if (now >= hint_at) {
        write_all(options.error_output, "berth: the command goes on after SIGINT; press Ctrl-C again to leave it (the server then ends it)\n");
        hint_pending = false;
      } else {
        timeout_ms = ms_until(hint_at);
      }
    }
    pollfd fds[3] = {{sock, POLLIN, 0}, {input_open ? options.input : -1, POLLIN, 0}, {signals.fd(), POLLIN, 0}};
    if (::poll(fds, 3, timeout_ms) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[2].revents & POLLIN) {
      char number = 0;
      while (::read(signals.fd(), &number, 1) == 1) {
        if (number == SIGWINCH && options.terminal) {
          int rows = 0, cols = 0;
          if (terminal_size(options.input, rows, cols)) send_all(sock, encode_frame('r', encode_size(rows, cols)));
        } else if (options.forward_signals && signal_name(number)) {
          send_all(sock, encode_frame('s', signal_name(number)));
          // A first Ctrl-C is the command's to handle; a second one, or a request to end
          // berth itself, ends berth soon whether or not the command heard it.
          if (number == SIGINT && interrupts == 0) {
            hint_pending = true;
            hint_at = std::chrono::steady_clock::now() + kSignalGrace;
          }
          if ((number != SIGINT || ++interrupts >= 2) && ending_signal == 0) {
            ending_signal = number;
            leave_at = std::chrono::steady_clock::now() + kSignalGrace;
          }
        } else if (number == SIGTERM || number == SIGHUP) {
          hung_up = true;  // the terminal is restored on the way out
        }
      }
      if (hung_up) break;
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(options.input, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      bool sent = n > 0 ? send_all(sock, encode_frame('i', std::string_view(buffer, static_cast<size_t>(n))))
                        : send_all(sock, encode_frame('c', {}));
      if (n <= 0 || !sent) input_open = false;  // a refused stream still says why before it closes
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::recv(sock, buffer, sizeof buffer, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      decoder.feed(buffer, static_cast<size_t>(n));
    }
  }
  raw.reset();
  if (ending_signal != 0 && !exit_code && !failure && !output_broken) {
    // Closing the stream ends the call: the server cancels the command in the workspace.
    write_all(options.error_output, std::string("berth: the command did not end within ") + std::to_string(kSignalGrace.count()) +
                                        " s of SIG" + signal_name(ending_signal) + "; left " + options.what +
                                        " (the server ends the command)\n");
    return 128 + ending_signal;
  }
  // Nobody reads our output any more (berth exec ... | head): the command is ended, as a
  // local one would be by SIGPIPE, when the socket closes.
  if (output_broken) return 128 + SIGPIPE;
  if (failure) throw *failure;
  if (exit_code) return *exit_code;
  if (hung_up) return 129;
  throw unavailable("lost the connection to the berth server during " + options.what +
                    " (the server stopped or restarted; the command in the workspace was ended)");
}

}  // namespace berth::cli
