#pragma once
// berth server start|stop|status: the server as a background process with a pid file and a log.
#include "home.hpp"

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace berth::cli {

struct DaemonStatus {
  bool running = false;
  int pid = 0;
};

// Starts `berth serve` for home in the background and waits until it answers.
// Returns its pid; throws unavailable with the log's last lines when it does not come up.
// serve_args: more arguments for `berth serve` (--listen, the TLS files; none: the Unix socket only).
int start_daemon(const Home& home, std::chrono::milliseconds deadline, const std::vector<std::string>& serve_args = {});
// Sends SIGTERM and returns once the process (every thread of it) has ended; throws when it
// has not by the deadline. still_ending is told when it takes longer than a moment (what runs
// finishes first), with how long berth waits. False when no server was running.
bool stop_daemon(const Home& home, std::chrono::milliseconds deadline,
                 const std::function<void(const std::string&)>& still_ending = nullptr);
DaemonStatus daemon_status(const Home& home);

}  // namespace berth::cli
