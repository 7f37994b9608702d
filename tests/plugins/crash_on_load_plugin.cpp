// A plugin that crashes while its library loads (a static initialiser dereferences null).
#include <berth/plugin.hpp>

#include <csignal>

namespace {
struct CrashAtLoad {
  CrashAtLoad() { std::raise(SIGSEGV); }
} crash_at_load;

class Never : public berth::Plugin {
 public:
  int run(berth::Context&, const std::string&, const std::vector<std::string>&) override { return 0; }
};
}  // namespace

BERTH_PLUGIN(Never)
