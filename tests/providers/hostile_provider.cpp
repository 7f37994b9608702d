// A provider for the isolation tests, built with the installed SDK like a third party's: in the
// operation its target names (fail_on) it segfaults, aborts, exits, throws a non-exception,
// hangs (ignoring cancellation, or waiting on it), or floods stdout and stderr. Its name is its
// file's base name, so one library copied under many names gives many providers.
#include <berth/provider.hpp>

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
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
             {"how", berth::PropertyType::enumeration, false, "segv", {"segv", "abort", "exit", "throw42", "hang", "wait", "flood"},
              "How it misbehaves"},
             {"flood_bytes", berth::PropertyType::integer, false, "4000000", {}, "How much a flood prints"},
             {"token", berth::PropertyType::secret, false, "", {}, "A secret a flood prints, to check redaction"}}};
  }
  void create(berth::OperationContext& c) override { step(c, "create"); }
  void start(berth::OperationContext& c) override { step(c, "start"); }
  void stop(berth::OperationContext& c) override { step(c, "stop"); }
  void destroy(berth::OperationContext& c) override { step(c, "destroy"); }
  berth::Status status(berth::OperationContext& c) override {
    step(c, "status");
    return {berth::InfraState::started, ""};
  }
  int exec(berth::OperationContext& c, const berth::ExecRequest&, berth::OutputSink& output) override {
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
