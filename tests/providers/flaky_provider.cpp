// A provider for tests: it fails, or waits for a gate file, in the operation its target says.
// Its name is its file's base name, so one library copied under many names gives many
// providers (the start-up benchmark uses that).
#include <berth/provider.hpp>

#include <dlfcn.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

namespace fs = std::filesystem;

namespace {

std::string own_name() {
  if (const char* name = std::getenv("BERTH_PROVIDER_NAME")) return name;  // as berth-provider-host loads it
  Dl_info info{};
  static int anchor;
  if (::dladdr(&anchor, &info) == 0 || info.dli_fname == nullptr) return "flaky";
  return fs::path(info.dli_fname).stem().string();
}

class FlakyProvider : public berth::Provider {
 public:
  berth::ProviderInfo info() const override {
    return {own_name(), "0.1.0", "Test provider: fails or waits where told",
            {{"fail_on", berth::PropertyType::enumeration, false, "none",
              {"none", "create", "start", "stop", "destroy", "status", "exec"}, "Operation that throws"},
             {"gate", berth::PropertyType::path, false, "", {}, "Operations wait until this file exists"},
             {"gate_on", berth::PropertyType::string, false, "create", {}, "Operation that waits for the gate"},
             {"token", berth::PropertyType::secret, false, "", {}, "A secret, to check masking"}}};
  }
  void create(berth::OperationContext& c) override { step(c, "create"); c.provider_data["created"] = "yes"; }
  void start(berth::OperationContext& c) override { step(c, "start"); }
  void stop(berth::OperationContext& c) override { step(c, "stop"); }
  void destroy(berth::OperationContext& c) override { step(c, "destroy"); }
  berth::Status status(berth::OperationContext& c) override {
    step(c, "status");
    return {berth::InfraState::started, ""};
  }
  int exec(berth::OperationContext& c, const berth::ExecRequest& request, berth::OutputSink& output) override {
    step(c, "exec");
    std::string joined;
    for (const auto& part : request.command) joined += (joined.empty() ? "" : " ") + part;
    output.write(berth::OutputStream::stdout_stream, "flaky ran: " + joined + "\n");
    return 0;
  }

 private:
  static void step(berth::OperationContext& c, const std::string& operation) {
    const auto& p = c.properties;
    if (p.count("gate") && !p.at("gate").empty() && p.count("gate_on") && p.at("gate_on") == operation) {
      c.progress.line("waiting for gate " + p.at("gate"));
      auto until = std::chrono::steady_clock::now() + std::chrono::seconds(120);
      while (!fs::exists(p.at("gate")) && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    if (p.count("fail_on") && p.at("fail_on") == operation) {
      throw std::runtime_error("flaky was told to fail in " + operation);
    }
    c.progress.line("flaky " + operation + " ok");
  }
};

}  // namespace

BERTH_PROVIDER(FlakyProvider)
