// A provider whose factory throws.
#include <berth/provider.hpp>

#include <stdexcept>

namespace {
class ThrowingProvider : public berth::Provider {
 public:
  ThrowingProvider() { throw std::runtime_error("cannot reach the license server"); }
  berth::ProviderInfo info() const override { return {}; }
  void create(berth::OperationContext&) override {}
  void start(berth::OperationContext&) override {}
  void stop(berth::OperationContext&) override {}
  void destroy(berth::OperationContext&) override {}
  berth::Status status(berth::OperationContext&) override { return {}; }
  int exec(berth::OperationContext&, const berth::ExecRequest&, berth::OutputSink&) override { return 0; }
};
}  // namespace

BERTH_PROVIDER(ThrowingProvider)
