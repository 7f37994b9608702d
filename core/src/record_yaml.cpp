// Workspace and target records as stored on disk: YAML through their JSON, within the size a
// record may have to be read back.
#include "codec.hpp"
#include "errors.hpp"

namespace berth {
namespace {

// A record is read back with the default YAML limits, so no more may be written: escaping can
// make the text up to six times longer than what came in under the request body limit.
Error record_too_large(const std::string& what, size_t size) {
  return invalid(what + " would need a record of " + std::to_string(size) + " bytes, more than the " +
                 std::to_string(YamlLimits{}.max_bytes) + " a record may have to be read back; use shorter values");
}

// text cut to at most size bytes, not inside a UTF-8 sequence.
std::string utf8_prefix(const std::string& text, size_t size) {
  if (size >= text.size()) return text;
  while (size > 0 && (static_cast<unsigned char>(text[size]) & 0xC0) == 0x80) --size;
  return text.substr(0, size);
}

}  // namespace

std::string workspace_to_yaml(const Workspace& workspace) {
  std::string text = json_to_yaml(Json(workspace));
  const size_t limit = YamlLimits{}.max_bytes;
  if (text.size() <= limit) return text;
  // Only the error message may give way (a failed create copies the repository into it);
  // what the user asked for is never changed behind their back.
  Workspace shorter = workspace;
  size_t keep = workspace.last_error.size();
  while (keep > 0) {
    size_t excess = text.size() - limit + 256;  // room for the note added below
    keep = keep > excess ? keep - excess : keep / 2;
    shorter.last_error =
        utf8_prefix(workspace.last_error, keep) + " ... (cut to fit the record; the whole message is in berth logs " + workspace.name + ")";
    text = json_to_yaml(Json(shorter));
    if (text.size() <= limit) return text;
  }
  throw record_too_large("workspace '" + workspace.name + "'", text.size());
}

Workspace workspace_from_yaml(const std::string& text, const std::string& source) {
  Json json = yaml_to_json(text, source);
  try {
    return json.get<Workspace>();
  } catch (const Error& error) {
    throw invalid(source + ": " + error.what());
  }
}

std::string target_to_yaml(const Target& target) {
  std::string text = json_to_yaml(Json(target));
  if (text.size() > YamlLimits{}.max_bytes) throw record_too_large("target '" + target.name + "'", text.size());
  return text;
}

Target target_from_yaml(const std::string& text, const std::string& source) {
  Json json = yaml_to_json(text, source);
  try {
    return json.get<Target>();
  } catch (const Error& error) {
    throw invalid(source + ": " + error.what());
  }
}

}  // namespace berth
