// Dev container features from the repository: manifests, options, install order.
#include <devcontainer/features.hpp>

#include <berth/sdk.hpp>

#include <algorithm>
#include <cctype>
#include <set>

namespace devcontainer {
namespace {

berth::Error invalid(const std::string& message) { return berth::Error("invalid", message); }

std::string escape_key(const std::string& key) {
  std::string out;
  for (char c : key) out += c == '~' ? "~0" : c == '/' ? "~1" : std::string(1, c);
  return out;
}

bool is_local(const std::string& reference) { return reference.rfind("./", 0) == 0 || reference.rfind("../", 0) == 0; }

// The option values devcontainer.json gives: an object, or a string (the "version" option), or true.
std::map<std::string, std::string> given_options(const Document& document, const std::string& pointer, const Json& value,
                                                 const Json& declared) {
  std::map<std::string, std::string> given;
  if (value.is_string()) {
    given["version"] = value.get<std::string>();
  } else if (value.is_object()) {
    for (const auto& [name, item] : value.items()) {
      std::string inner = pointer + "/" + escape_key(name);
      if (!declared.contains(name)) {
        std::string known;
        for (const auto& [option, spec] : declared.items()) known += (known.empty() ? "" : ", ") + option;
        throw invalid(document.where(inner) + "is not an option of this feature (its options: " + (known.empty() ? "none" : known) + ")");
      }
      std::string type = declared[name].value("type", "string");
      if (type == "boolean" && !item.is_boolean()) throw invalid(document.where(inner) + "must be true or false");
      if (type == "string" && !item.is_string()) throw invalid(document.where(inner) + "must be a string");
      std::string text = item.is_string() ? item.get<std::string>() : item.dump();
      if (declared[name].contains("enum")) {
        const Json& allowed = declared[name]["enum"];
        if (std::find(allowed.begin(), allowed.end(), item) == allowed.end()) throw invalid(document.where(inner) + "must be one of " + allowed.dump());
      }
      given[name] = text;
    }
  } else if (!value.is_boolean()) {
    throw invalid(document.where(pointer) + "must be an object of options, a version string, or true");
  }
  return given;
}

}  // namespace

std::string option_variable(const std::string& name) {
  std::string out;
  for (char c : name) out.push_back(std::isalnum(static_cast<unsigned char>(c)) || c == '_' ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : '_');
  size_t lead = 0;
  while (lead < out.size() && (std::isdigit(static_cast<unsigned char>(out[lead])) || out[lead] == '_')) ++lead;
  if (lead > 0) out.replace(0, lead, "_");
  return out;
}

std::vector<Feature> load_features(const Config& config, FeatureFetcher* fetcher) {
  const Document& document = config.document;
  std::vector<Feature> features;
  if (!document.value.contains("features")) return features;
  // A local feature is a folder of the repository: it and its files are looked up inside it
  // (repository.hpp), so no path of the server reaches the image.
  Repository repository(config.root);
  for (const auto& [reference, value] : document.value["features"].items()) {
    std::string pointer = "/features/" + escape_key(reference);
    Feature feature{reference, {}, {}, {}, {}};
    Document manifest;
    if (is_local(reference)) {
      std::string where = document.where(pointer);
      auto folder = repository.resolve(config.folder, reference, Repository::Kind::folder, where);
      feature.folder = folder.path;
      auto manifest_file = repository.resolve(folder.relative, "devcontainer-feature.json", Repository::Kind::file, where, false);
      if (!manifest_file.exists) throw invalid(where + "names a folder without a devcontainer-feature.json");
      if (!repository.resolve(folder.relative, "install.sh", Repository::Kind::file, where, false).exists) {
        throw invalid(where + "names a folder without an install.sh");
      }
      manifest = parse_jsonc(repository.read(manifest_file, kMaxDefinitionBytes, manifest_file.relative + ": "), manifest_file.relative);
    } else if (fetcher) {
      feature.folder = fetcher->fetch(reference);
      manifest = read_jsonc((feature.folder / "devcontainer-feature.json").string(), reference + "/devcontainer-feature.json");
    } else {
      throw invalid(document.where(pointer) +
                    "is a feature from a registry, which berth cannot fetch yet; use a local feature (a folder beside the "
                    "devcontainer.json, named \"./NAME\") or install it in the Dockerfile");
    }
    if (!manifest.value.is_object() || !manifest.value.contains("id") || !manifest.value["id"].is_string()) {
      throw invalid(manifest.file + ":1: a devcontainer-feature.json needs a string 'id'");
    }
    feature.id = manifest.value["id"];
    feature.manifest = manifest.value;
    Json declared = manifest.value.value("options", Json::object());
    if (!declared.is_object()) throw invalid(manifest.where("/options") + "must be an object");
    auto given = given_options(document, pointer, value, declared);
    for (const auto& [name, spec] : declared.items()) {
      if (given.count(name)) {
        feature.options[name] = given[name];
      } else if (spec.contains("default")) {
        feature.options[name] = spec["default"].is_string() ? spec["default"].get<std::string>() : spec["default"].dump();
      }
    }
    features.push_back(std::move(feature));
  }
  // Install order: overrideFeatureInstallOrder first, then each feature once everything it
  // depends on (hard) or installs after (soft, only among these) is installed; ties keep the
  // order of devcontainer.json.
  auto names = [](const Feature& f) { return std::set<std::string>{f.id, f.reference}; };
  auto find = [&](const std::string& key) -> int {
    for (size_t i = 0; i < features.size(); ++i) {
      if (names(features[i]).count(key)) return static_cast<int>(i);
    }
    return -1;
  };
  std::vector<std::vector<int>> before(features.size());
  for (size_t i = 0; i < features.size(); ++i) {
    Json depends = features[i].manifest.value("dependsOn", Json::object());
    for (const auto& [key, value] : depends.items()) {
      (void)value;
      int found = find(key);
      if (found < 0) {
        throw invalid(document.where("/features/" + escape_key(features[i].reference)) + "depends on '" + key +
                      "', which is not among the features (add it, as a local feature)");
      }
      before[i].push_back(found);
    }
    for (const auto& key : features[i].manifest.value("installsAfter", Json::array())) {
      if (int found = key.is_string() ? find(key.get<std::string>()) : -1; found >= 0) before[i].push_back(found);
    }
  }
  std::vector<int> priority(features.size(), static_cast<int>(features.size()));
  if (document.value.contains("overrideFeatureInstallOrder")) {
    int rank = 0;
    for (const auto& key : document.value["overrideFeatureInstallOrder"]) {
      if (int found = find(key.get<std::string>()); found >= 0) priority[found] = rank++;
    }
  }
  std::vector<Feature> ordered;
  std::vector<bool> done(features.size(), false);
  while (ordered.size() < features.size()) {
    int pick = -1;
    for (size_t i = 0; i < features.size(); ++i) {
      if (done[i]) continue;
      bool ready = std::all_of(before[i].begin(), before[i].end(), [&](int j) { return done[j] || j == static_cast<int>(i); });
      if (ready && (pick < 0 || priority[i] < priority[pick])) pick = static_cast<int>(i);
    }
    if (pick < 0) throw invalid(document.where("/features") + "has features that depend on each other in a cycle");
    done[pick] = true;
    ordered.push_back(features[pick]);
  }
  return ordered;
}

Json feature_metadata_entry(const Feature& feature) {
  Json entry = metadata_entry(feature.manifest);
  entry["id"] = feature.id;
  return entry;
}

}  // namespace devcontainer
