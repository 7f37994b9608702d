#pragma once
// Ports of workspaces forwarded by the server itself, for the dashboard's "open" button (the CLI
// has `berth forward`, which listens in the CLI's own process):
//   POST   /v1/workspaces/NAME/forwards          {"port": P} → {"port", "local_port", "url"}
//   GET    /v1/workspaces/NAME/forwards          the open ones
//   DELETE /v1/workspaces/NAME/forwards/LOCAL    closes one
// Each listens on 127.0.0.1 on a free port and carries every connection to port P in the
// workspace through the provider (WorkspaceService::connect), as `berth forward` does.
#include "workspace_service.hpp"

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Server;
}

namespace berth {

class ForwardHub {
 public:
  static constexpr size_t kMaxForwards = 64;

  explicit ForwardHub(WorkspaceService& service);
  ~ForwardHub();

  struct Forward {
    std::string workspace;
    int port = 0;        // in the workspace
    int local_port = 0;  // on 127.0.0.1
  };
  // The forward of that port of the workspace (one already open is reused). Throws Error.
  Forward open(const std::string& workspace, int port);
  std::vector<Forward> list(const std::string& workspace);
  bool close(const std::string& workspace, int local_port);
  void close_all();

 private:
  struct Entry;
  void accept_loop(Entry& entry);
  void carry(int connection, const Forward& forward);

  WorkspaceService& service_;
  std::mutex mutex_;
  std::condition_variable idle_;
  std::map<int, std::unique_ptr<Entry>> entries_;  // by local port
  int connections_ = 0;                            // being carried now
};

void register_forward_routes(httplib::Server& server, ForwardHub& forwards);

}  // namespace berth
