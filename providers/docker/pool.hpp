#pragma once
// A warm pool per docker target (`pool: N`): containers made and started in the background
// from the target's image, each with its working-tree volume mounted at the folder that holds
// the workspaces (`/workspaces` for the default `workdir: /workspaces/{name}`), handed out by
// create (renamed, the repository copied in), refilled after each hand-out, drained when the
// target is removed. Pool containers carry this home's identity and the pool's key as labels,
// so after a server crash the next use adopts the running ones and removes the rest: none leak.
#include "engine.hpp"

#include <berth/provider.hpp>

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace docker {

constexpr const char* kPoolLabel = "dev.berth.pool";

// What a pool's containers are made from: a target's properties (those that shape a
// container), the engine, and the home.
struct PoolSpec {
  std::string key;  // a digest of the properties below: targets that agree share a pool
  std::string address;
  berth::StringMap properties;
  std::string identity;
  std::string data_dir;
  int size = 0;
  std::string mount;  // where the volume goes: the folder holding the workspaces
};

// The folder holding every workspace's folder, when the target's workdir is FOLDER/{name}
// (a pool needs it: its containers exist before their workspace's name); empty otherwise.
std::string pool_mount(const berth::StringMap& properties);

// The pool of a target, or size 0 when it has none (or its workdir does not end in /{name}).
// address: the engine (one of a target's `hosts`); each engine of a target has its own pool.
PoolSpec pool_spec(const berth::StringMap& properties, const std::string& address, const std::string& identity, const std::string& data_dir);

struct PoolContainer {
  std::string id;
  std::string volume;  // also the container's name while it is in the pool
};

// What else a pool container gets (berth-agent as its main process, docs/agent.md): `shape`
// changes the create body (name: the container's), `prepare` runs between its create and its
// start, `removed` after the pool removed one (never after a hand-out). Each may be empty.
struct PoolHooks {
  std::function<void(const PoolSpec&, Engine&, Json& body, const std::string& name)> shape;
  std::function<void(const PoolSpec&, Engine&, const std::string& id, const std::string& name)> prepare;
  std::function<void(const PoolSpec&, const std::string& name)> removed;
};

class WarmPool {
 public:
  using EngineFactory = std::function<std::shared_ptr<Engine>(const PoolSpec& spec)>;  // the engine at spec.address
  // The /containers/create body of a pool container (image, command, env, limits), without
  // labels or mounts, which the pool adds.
  using BodyFactory = std::function<Json(const PoolSpec&)>;
  WarmPool(EngineFactory engines, BodyFactory bodies, PoolHooks hooks = {})
      : engines_(std::move(engines)), bodies_(std::move(bodies)), hooks_(std::move(hooks)) {}

  // A started container of the pool, or nothing (none ready yet); starts a refill either way.
  std::optional<PoolContainer> take(const PoolSpec& spec);
  // Starts filling the pool in the background, if it is not full and not being filled.
  void refill(const PoolSpec& spec);
  // For berth doctor: "pool: 2 of 2 ready" and the last failure to fill it, if any.
  std::string describe(const PoolSpec& spec);
  // Removes every container and volume of the pool (the target is going); returns how many.
  int drain(const PoolSpec& spec);

 private:
  struct Pool {
    std::deque<PoolContainer> ready;
    int filling = 0;
    bool adopted = false;  // the engine was asked for this pool's containers (after a restart)
    bool draining = false;
    std::string last_error;
  };
  void adopt(const PoolSpec& spec, Engine& engine);  // mutex_ not held
  void ensure_adopted(const PoolSpec& spec, Engine& engine);  // once per pool
  PoolContainer make_one(const PoolSpec& spec, Engine& engine);
  void fill(PoolSpec spec);  // a background thread's body
  void remove(const PoolSpec& spec, Engine& engine, const std::string& id, const std::string& volume);

  EngineFactory engines_;
  BodyFactory bodies_;
  PoolHooks hooks_;
  std::mutex mutex_;
  std::mutex adopt_mutex_;  // one adoption at a time, so none is done twice
  std::condition_variable filler_ended_;
  std::map<std::string, Pool> pools_;
};

}  // namespace docker
