// A provider whose library claims a newer SDK minor than this host speaks (its manifest says
// 1.0, so the manifest check passes and the library's own answer must be caught).
#include <berth/provider.hpp>

extern "C" BERTH_EXPORT const berth::ApiVersion* berth_provider_api_version() noexcept {
  static constexpr berth::ApiVersion version{1, 9};
  return &version;
}
extern "C" BERTH_EXPORT berth::Provider* berth_provider_create() { return nullptr; }
