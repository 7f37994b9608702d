#pragma once
#include "home.hpp"

#include <filesystem>
#include <string>

namespace berth {

struct ServeOptions {
  Home home;
  std::filesystem::path builtin_providers;  // <prefix>/lib/berth/providers
  std::string listen;                        // optional HOST:PORT for TCP (API keys required)
};

// Runs the server in the foreground until SIGTERM or SIGINT; returns the process exit code.
int serve(const ServeOptions& options);

// berth-server [--home DIR] [--listen HOST:PORT]: what `berth serve` runs.
int server_main(int argc, char** argv);

}  // namespace berth
