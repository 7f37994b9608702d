// Fuzz target: a target file as a user writes it, parsed and checked against a manifest.
// Any exception but berth::Error is a bug (it would be a 500 instead of a clear refusal).
#include "target_document.hpp"

#include <berth/sdk.hpp>

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const berth::ProviderInfo provider{
      "sample", "1.0", "",
      {{"host", berth::PropertyType::string, true, "", {}, ""},
       {"port", berth::PropertyType::integer, false, "22", {}, ""},
       {"tls", berth::PropertyType::boolean, false, "false", {}, ""},
       {"pull", berth::PropertyType::enumeration, false, "missing", {"missing", "always", "never"}, ""},
       {"token", berth::PropertyType::secret, false, "", {}, ""}}};
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    auto document = berth::parse_target_document(text, "fuzz.yaml");
    berth::validate_target_properties(document, provider);
    berth::masked_properties(document.target.properties, provider);
  } catch (const berth::Error&) {
  }
  return 0;
}
