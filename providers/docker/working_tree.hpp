#pragma once
// The workspace's working tree lives in a named volume of its own, not in the container's
// layer, so `berth rebuild` can replace the container (a changed devcontainer.json, a new
// image) while the tree, uncommitted changes included, survives; `berth delete` removes the
// volume, `delete --keep-volume` leaves it for a later create of the same name.
#include "engine.hpp"

#include <berth/provider.hpp>

#include <filesystem>
#include <optional>
#include <string>

namespace docker {

// Who holds a volume of a given name on the engine.
enum class VolumeOwner { none, this_home, someone_else };
VolumeOwner volume_owner(Engine& engine, const std::string& volume, const std::string& identity_label, const std::string& identity);

// Makes the volume, labelled as this home's and the workspace's.
void make_volume(Engine& engine, const std::string& volume, const Json& labels);

// Removes the volume; false when it was already gone. Throws when the engine refuses (in use).
bool remove_volume(Engine& engine, const std::string& volume);

// Extracts the folder `path` of a container (running or not) into `into`, which must not
// exist: its contents become into's.
void fetch_tree(Engine& engine, const std::string& container, const std::string& path, const std::filesystem::path& into);

// The same from a volume with no container: a container that never runs, made from `image`
// with the volume mounted, is read and removed.
void fetch_volume_tree(Engine& engine, const std::string& volume, const std::string& image, const Json& labels,
                       const std::filesystem::path& into);

// Volumes kept by delete --keep-volume, noted in the provider's own folder under the
// workspace's container name (`key`) with the volume's name and engine, so a create of the
// name finds it (a pooled workspace's volume has a name of its own) and tells it from a
// volume an interrupted create left half filled.
struct KeptVolume {
  std::string volume, engine;
};
void note_kept(const std::string& data_dir, const std::string& key, const KeptVolume& kept);
void forget_kept(const std::string& data_dir, const std::string& key);
std::optional<KeptVolume> kept_volume(const std::string& data_dir, const std::string& key);

}  // namespace docker
