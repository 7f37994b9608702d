#pragma once
// Dev container features (the spec's "features" property): their devcontainer-feature.json,
// their options, and the order they install in. Local ones ("./name", a folder beside the
// devcontainer.json) are read here; others need a FeatureFetcher, which berth has none of yet.
#include <devcontainer/config.hpp>

namespace devcontainer {

// Brings a feature that is not in the repository (an OCI reference such as
// ghcr.io/devcontainers/features/node:1) into a local folder. The seam for a later fetcher;
// without one such features are refused.
class FeatureFetcher {
 public:
  virtual ~FeatureFetcher() = default;
  // The folder holding the feature's devcontainer-feature.json and install.sh; throws on failure.
  virtual fs::path fetch(const std::string& reference) = 0;
};

struct Feature {
  std::string reference;  // as devcontainer.json names it, e.g. "./hello"
  fs::path folder;        // devcontainer-feature.json and install.sh
  std::string id;
  Json manifest;          // devcontainer-feature.json
  std::map<std::string, std::string> options;  // every option's value, defaults filled in
};

// The features of a checked configuration, their options checked against their manifests,
// in install order (dependsOn and installsAfter among them, overrideFeatureInstallOrder first).
// Refused naming file, line and property: a missing folder or manifest, an unknown option or
// one of the wrong type, a dependsOn not among them, a cycle, a remote feature without fetcher.
std::vector<Feature> load_features(const Config& config, FeatureFetcher* fetcher = nullptr);

// An option's name as the environment variable install.sh gets: "nodeVersion" -> "NODEVERSION",
// "my-opt" -> "MY_OPT" (the spec's rule).
std::string option_variable(const std::string& name);

// The feature's entry in image metadata (its containerEnv, mounts, capAdd, lifecycle commands, ...).
Json feature_metadata_entry(const Feature& feature);

}  // namespace devcontainer
