// A provider for the isolation tests, built with the installed SDK like a third party's: in the
// operation its target names (fail_on) it segfaults, aborts, exits, throws a non-exception,
// hangs (ignoring cancellation, or waiting on it), floods stdout and stderr, closes its socket
// to berth before it segfaults (segv_late), prints ticks until cancelled (tick), or waits for a
// gate file and then succeeds (gate). Its name is its
// file's base name, so one library copied under many names gives many providers.
#include <berth/provider.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

namespace {

std::string own_name() {
  const char* name = std::getenv("BERTH_PROVIDER_NAME");
  return name ? name : "hostile";
}

class HostileProvider : public berth::Provider {
 public:
  berth::ProviderInfo info() const override {
    return {own_name(), "0.1.0", "Test provider: misbehaves where told",
            {{"fail_on", berth::PropertyType::enumeration, false, "none",
              {"none", "create", "start", "stop", "destroy", "status", "exec"}, "Operation that misbehaves"},
             {"how", berth::PropertyType::enumeration, false, "segv", {"segv", "abort", "exit", "throw42", "hang", "wait", "flood", "segv_late", "tick", "gate"},
              "How it misbehaves"},
             {"flood_bytes", berth::PropertyType::integer, false, "4000000", {}, "How much a flood prints"},
             {"token", berth::PropertyType::secret, false, "", {}, "A secret a flood prints, to check redaction"},
             {"gate", berth::PropertyType::string, false, "", {}, "The file a gate waits for"}}};
  }
  void create(berth::OperationContext& c) override { step(c, "create"); }
  void start(berth::OperationContext& c) override { step(c, "start"); }
  void stop(berth::OperationContext& c) override { step(c, "stop"); }
  void destroy(berth::OperationContext& c) override { step(c, "destroy"); }
  berth::Status status(berth::OperationContext& c) override {
    step(c, "status");
    return {berth::InfraState::started, ""};
  }
  // No session of its own: berth exec comes here through the SDK's default session.
  int exec(berth::OperationContext& c, const berth::ExecRequest&, berth::OutputSink& output) override {
    if (c.properties.count("how") && c.properties.at("how") == "tick" && c.properties.count("fail_on") && c.properties.at("fail_on") == "exec") {
      // A command that runs until it is ended, as `while :; do echo tick; sleep 0.2; done`
      // would: this provider cannot signal it, only end it when berth cancels the call.
      while (!c.cancellation.wait_for(std::chrono::milliseconds(200))) output.write(berth::OutputStream::stdout_stream, "tick\n");
      throw berth::Error("provider_failed", "hostile ended the ticks: cancelled");
    }
    step(c, "exec");
    output.write(berth::OutputStream::stdout_stream, "hostile ran\n");
    return 0;
  }

 private:
  static void step(berth::OperationContext& c, const std::string& operation) {
    const auto& p = c.properties;
    if (!p.count("fail_on") || p.at("fail_on") != operation) return;
    // What a provider records as soon as it made something must survive what comes next.
    c.provider_data["made_before_" + operation] = "yes";
    c.progress.line("recorded what " + operation + " made");
    std::string how = p.count("how") ? p.at("how") : "segv";
    if (how == "segv") {
      std::raise(SIGSEGV);
    } else if (how == "segv_late") {
      // berth sees the socket close before the process ends (as it may on a busy machine,
      // where a dying host's socket closes before berth reaps it).
      ::shutdown(3, SHUT_WR);
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      std::raise(SIGSEGV);
    } else if (how == "gate") {
      std::string gate = p.count("gate") ? p.at("gate") : "";
      while (!gate.empty() && !std::filesystem::exists(gate)) {
        if (c.cancellation.wait_for(std::chrono::milliseconds(20))) throw berth::Error("provider_failed", "hostile stopped waiting at its gate: cancelled");
      }
    } else if (how == "abort") {
      std::abort();
    } else if (how == "exit") {
      std::exit(3);
    } else if (how == "throw42") {
      throw 42;
    } else if (how == "hang") {
      while (true) std::this_thread::sleep_for(std::chrono::seconds(1));  // deaf to cancellation
    } else if (how == "wait") {
      // A well-behaved long operation: it ends as soon as berth asks.
      while (!c.cancellation.wait_for(std::chrono::milliseconds(100))) {
      }
      throw berth::Error("provider_failed", "hostile gave up: cancelled");
    } else if (how == "flood") {
      long bytes = p.count("flood_bytes") ? std::stol(p.at("flood_bytes")) : 4000000;
      std::string token = p.count("token") ? p.at("token") : "";
      std::string line = "flood line with token " + token + " " + std::string(60, 'x') + "\n";
      c.progress.line("flooding with token " + token);
      for (long written = 0; written < bytes; written += static_cast<long>(line.size())) {
        std::fwrite(line.data(), 1, line.size(), (written / 1000) % 2 ? stdout : stderr);
      }
      std::fflush(stdout);
      std::fflush(stderr);
    }
  }
};

}  // namespace

BERTH_PROVIDER(HostileProvider)
