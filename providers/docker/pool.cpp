#include "pool.hpp"

#include <sys/random.h>

#include <cstdio>
#include <thread>

namespace docker {
namespace {

constexpr const char* kIdentityLabel = "dev.berth.identity";
constexpr const char* kVolumeLabel = "dev.berth.pool.volume";

std::string value_of(const berth::StringMap& map, const std::string& key) {
  auto it = map.find(key);
  return it == map.end() ? "" : it->second;
}

// FNV-1a, 64 bits: a stable digest (std::hash is not promised to be) of the properties that
// shape a pool container.
std::string digest(const std::string& text) {
  unsigned long long hash = 1469598103934665603ULL;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", hash);
  return out;
}

std::string random_suffix() {
  unsigned char bytes[4];
  if (::getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes)) throw berth::Error("provider_failed", "no randomness");
  char out[9];
  std::snprintf(out, sizeof out, "%02x%02x%02x%02x", bytes[0], bytes[1], bytes[2], bytes[3]);
  return out;
}

std::string filters(const PoolSpec& spec) {
  Json labels = Json::array({std::string(kIdentityLabel) + "=" + spec.identity, std::string(kPoolLabel) + "=" + spec.key});
  return url_escape(Json{{"label", labels}}.dump());
}

// Pool containers are named berth-ID12-pool_RANDOM ('_' is in no workspace name); a handed-out
// one is renamed after its workspace and keeps its (immutable) pool labels, so the name, not
// the label, says whether a container is still the pool's.
constexpr const char* kPoolNameMark = "-pool_";
bool still_pooled(const Json& listed) {
  for (const auto& name : listed.value("Names", Json::array())) {
    if (name.is_string() && name.get<std::string>().find(kPoolNameMark) != std::string::npos) return true;
  }
  return false;
}

void remove_quietly(Engine& engine, const std::string& id, const std::string& volume) {
  engine.del("/containers/" + id + "?force=true&v=true");
  if (!volume.empty()) engine.del("/volumes/" + url_escape(volume));
}

}  // namespace

std::string pool_mount(const berth::StringMap& properties) {
  std::string workdir = value_of(properties, "workdir");
  if (workdir.empty()) workdir = "/workspaces/{name}";
  static const std::string kTail = "/{name}";
  if (workdir.size() <= kTail.size() + 1 || workdir.compare(workdir.size() - kTail.size(), kTail.size(), kTail) != 0) return "";
  std::string folder = workdir.substr(0, workdir.size() - kTail.size());
  return folder.find('{') == std::string::npos ? folder : "";
}

PoolSpec pool_spec(const berth::StringMap& properties, const std::string& address, const std::string& identity, const std::string& data_dir) {
  PoolSpec spec;
  spec.address = address;
  spec.properties = properties;
  spec.identity = identity;
  spec.data_dir = data_dir;
  spec.mount = pool_mount(properties);
  std::string size = value_of(properties, "pool");
  spec.size = size.empty() || spec.mount.empty() ? 0 : std::atoi(size.c_str());
  std::string shape = spec.address;
  for (const char* key : {"image", "workdir", "user", "network", "cpus", "memory", "stop_timeout", "env"}) {
    shape += std::string("\n") + key + "=" + value_of(properties, key);
  }
  spec.key = digest(shape);
  return spec;
}

std::optional<PoolContainer> WarmPool::take(const PoolSpec& spec) {
  if (spec.size <= 0) return std::nullopt;
  std::optional<PoolContainer> taken;
  try {
    ensure_adopted(spec, *engines_(spec));  // after a restart, the first create is warm too
  } catch (const std::exception& error) {
    std::lock_guard lock(mutex_);
    pools_[spec.key].last_error = error.what();
  }
  {
    std::lock_guard lock(mutex_);
    Pool& pool = pools_[spec.key];
    if (!pool.ready.empty()) {
      taken = pool.ready.front();
      pool.ready.pop_front();
    }
  }
  refill(spec);
  return taken;
}

void WarmPool::refill(const PoolSpec& spec) {
  if (spec.size <= 0) return;
  {
    std::lock_guard lock(mutex_);
    Pool& pool = pools_[spec.key];
    if (pool.draining || pool.filling > 0 || (pool.adopted && static_cast<int>(pool.ready.size()) >= spec.size)) return;
    pool.filling = 1;  // this filler; it makes one container at a time
  }
  std::thread([this, spec] { fill(spec); }).detach();
}

void WarmPool::fill(PoolSpec spec) {
  try {
    auto engine = engines_(spec);
    bool adopted;
    {
      std::lock_guard lock(mutex_);
      adopted = pools_[spec.key].adopted;
    }
    if (!adopted) ensure_adopted(spec, *engine);
    while (true) {
      {
        std::lock_guard lock(mutex_);
        Pool& pool = pools_[spec.key];
        if (pool.draining || static_cast<int>(pool.ready.size()) >= spec.size) break;
      }
      PoolContainer made = make_one(spec, *engine);
      std::lock_guard lock(mutex_);
      Pool& pool = pools_[spec.key];
      if (pool.draining) {
        remove(spec, *engine, made.id, made.volume);
        break;
      }
      pool.ready.push_back(made);
      pool.last_error.clear();
    }
  } catch (const std::exception& error) {
    std::lock_guard lock(mutex_);
    pools_[spec.key].last_error = error.what();
  }
  {
    std::lock_guard lock(mutex_);
    pools_[spec.key].filling = 0;
  }
  filler_ended_.notify_all();
}

void WarmPool::ensure_adopted(const PoolSpec& spec, Engine& engine) {
  std::lock_guard once(adopt_mutex_);
  {
    std::lock_guard lock(mutex_);
    if (pools_[spec.key].adopted) return;
  }
  adopt(spec, engine);
}

// The pool's containers already on the engine (made before this process, by a server that
// crashed or was restarted): the running ones join the pool, the rest are removed.
void WarmPool::adopt(const PoolSpec& spec, Engine& engine) {
  Reply listed = engine.get("/containers/json?all=true&filters=" + filters(spec));
  if (listed.status != 200) throw berth::Error("provider_failed", "cannot list the pool's containers: " + listed.message());
  std::deque<PoolContainer> found;
  for (const auto& container : listed.json()) {
    if (!still_pooled(container)) continue;  // handed out: a workspace's now
    std::string id = container.value("Id", "");
    Json labels = container.value("Labels", Json::object());
    std::string volume = labels.is_object() ? labels.value(kVolumeLabel, "") : "";
    if (container.value("State", "") == "running" && static_cast<int>(found.size()) < spec.size) {
      found.push_back({id, volume});
    } else {
      remove(spec, engine, id, volume);
    }
  }
  std::lock_guard lock(mutex_);
  Pool& pool = pools_[spec.key];
  for (auto& container : found) pool.ready.push_back(container);
  pool.adopted = true;
}

PoolContainer WarmPool::make_one(const PoolSpec& spec, Engine& engine) {
  std::string name = "berth-" + spec.identity.substr(0, 12) + kPoolNameMark + random_suffix();
  Json labels{{kIdentityLabel, spec.identity}, {"dev.berth.home", spec.data_dir}, {kPoolLabel, spec.key}, {kVolumeLabel, name}};
  Reply volume = engine.post("/volumes/create", Json{{"Name", name}, {"Labels", labels}});
  if (volume.status != 201) throw berth::Error("provider_failed", "cannot make a pool volume: " + volume.message());
  Json body = bodies_(spec);
  body["Labels"] = labels;
  body["HostConfig"]["Mounts"] = Json::array({Json{{"Type", "volume"}, {"Source", name}, {"Target", spec.mount}}});
  if (hooks_.shape) hooks_.shape(spec, engine, body, name);
  Reply created = engine.post("/containers/create?name=" + url_escape(name), body);
  if (created.status != 201) {
    engine.del("/volumes/" + url_escape(name));
    if (hooks_.removed) hooks_.removed(spec, name);
    throw berth::Error("provider_failed", "cannot make a pool container from " + body.value("Image", std::string("?")) + ": " + created.message());
  }
  std::string id = created.json().value("Id", "");
  try {
    if (hooks_.prepare) hooks_.prepare(spec, engine, id, name);
  } catch (...) {
    remove(spec, engine, id, name);
    throw;
  }
  Reply started = engine.post("/containers/" + id + "/start");
  if (started.status != 204 && started.status != 304) {
    remove(spec, engine, id, name);
    throw berth::Error("provider_failed", "cannot start a pool container: " + started.message());
  }
  return {id, name};
}

std::string WarmPool::describe(const PoolSpec& spec) {
  if (spec.size <= 0) return "";
  std::lock_guard lock(mutex_);
  const Pool& pool = pools_[spec.key];
  return "pool: " + std::to_string(pool.ready.size()) + " of " + std::to_string(spec.size) + " ready" +
         (pool.filling ? ", filling" : "") + (pool.last_error.empty() ? "" : " (last failure: " + pool.last_error + ")");
}

void WarmPool::remove(const PoolSpec& spec, Engine& engine, const std::string& id, const std::string& volume) {
  remove_quietly(engine, id, volume);
  if (hooks_.removed && !volume.empty()) hooks_.removed(spec, volume);
}

int WarmPool::drain(const PoolSpec& spec) {
  {
    // The filler, if one runs, ends after the container it is making (it sees draining).
    std::unique_lock lock(mutex_);
    Pool& pool = pools_[spec.key];
    pool.draining = true;
    pool.ready.clear();
    filler_ended_.wait_for(lock, std::chrono::seconds(60), [&] { return pools_[spec.key].filling == 0; });
  }
  auto engine = engines_(spec);
  Reply listed = engine->get("/containers/json?all=true&filters=" + filters(spec));
  int removed = 0;
  if (listed.status == 200) {
    for (const auto& container : listed.json()) {
      if (!still_pooled(container)) continue;  // handed out: a workspace's now, deleted with it
      Json labels = container.value("Labels", Json::object());
      remove(spec, *engine, container.value("Id", ""), labels.is_object() ? labels.value(kVolumeLabel, "") : "");
      ++removed;
    }
  }
  std::lock_guard lock(mutex_);
  pools_.erase(spec.key);  // a target added again with the same properties starts a new pool
  return removed;
}

}  // namespace docker
