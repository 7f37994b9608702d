#pragma once
// berth server start|stop|status: the server as a background process with a pid file and a log.
#include "home.hpp"

#include <chrono>
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
// Sends SIGTERM and waits for the process to end. False when no server was running.
bool stop_daemon(const Home& home, std::chrono::milliseconds deadline);
DaemonStatus daemon_status(const Home& home);

}  // namespace berth::cli
