// The library an attacker wants berth to load: its constructor runs as soon as it is loaded
// and leaves a mark (the file named by BERTH_TEST_EVIL_MARKER). The swap-race test asserts the
// mark never appears.
#include <berth/provider.hpp>

#include <cstdlib>
#include <fstream>

namespace {

__attribute__((constructor)) void leave_mark() {
  if (const char* marker = std::getenv("BERTH_TEST_EVIL_MARKER")) std::ofstream(marker) << "evil code ran\n";
}

class EvilProvider : public berth::Provider {
 public:
  berth::ProviderInfo info() const override {
    const char* name = std::getenv("BERTH_PROVIDER_NAME");
    return {name ? name : "evil", "0.1.0", "evil", {}};
  }
  void create(berth::OperationContext&) override {}
  void start(berth::OperationContext&) override {}
  void stop(berth::OperationContext&) override {}
  void destroy(berth::OperationContext&) override {}
  berth::Status status(berth::OperationContext&) override { return {}; }
  int exec(berth::OperationContext&, const berth::ExecRequest&, berth::OutputSink&) override { return 0; }
};

}  // namespace

BERTH_PROVIDER(EvilProvider)
