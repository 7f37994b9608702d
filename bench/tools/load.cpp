// berth-load: what bench/run needs that no stock tool does over a Unix socket.
//   berth-load fill HOME N                     N started host workspaces, written as the server writes them
//   berth-load get SOCKET NAME CLIENTS SECONDS keep-alive GETs of one workspace (NAME "-": the list);
//                                              requests/s, p50, p99. SOCKET may be an address
//                                              (https://HOST:PORT, with BERTH_API_KEY and BERTH_TLS_CA)
//   berth-load create SOCKET CLIENTS EACH      concurrent creates; waits, then checks every acknowledged record
#include "api_client.hpp"
#include "clock.hpp"
#include "codec.hpp"
#include "record_folder.hpp"
#include "http_client.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <thread>

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

int fill(const fs::path& home, int count) {
  berth::RecordFolder folder(home / "workspaces");
  fs::create_directories(folder.folder());
  fs::path roots = home / "provider-data" / "host" / "workspaces";
  std::string now = berth::now_rfc3339();
  for (int i = 0; i < count; ++i) {
    berth::Workspace w;
    w.name = "w" + std::to_string(i);
    w.target = "local";
    w.provider = "host";
    w.state = berth::WorkspaceState::started;
    w.created_at = w.updated_at = now;
    w.env = {{"EDITOR", "vi"}};
    w.provider_data = {{"path", (roots / w.name).string()}, {"shell", "/bin/sh"}};
    fs::create_directories(roots / w.name);
    // Plain writes: the benchmark's set-up needs no fsync per record.
    std::ofstream(folder.path_of(w.name)) << berth::workspace_to_yaml(w);
  }
  fs::permissions(home, fs::perms::owner_all, fs::perm_options::replace);
  std::cout << "wrote " << count << " workspaces into " << home << "\n";
  return 0;
}

int get(const std::string& socket, const std::string& name, int clients, int seconds) {
  std::mutex mutex;
  std::vector<double> latencies;
  std::atomic<long> failures{0};
  auto until = Clock::now() + std::chrono::seconds(seconds);
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      bool address = socket.find("://") != std::string::npos;
      berth::TlsClientOptions tls;
      if (const char* ca = std::getenv("BERTH_TLS_CA")) tls.ca_file = ca;
      berth::HttpClient client(address ? socket : "unix://" + socket, tls);
      if (const char* key = std::getenv("BERTH_API_KEY"); key && *key) client.set_header("Authorization", std::string("Bearer ") + key);
      std::vector<double> mine;
      std::string path = name == "-" ? "/v1/workspaces" : "/v1/workspaces/" + name;
      while (Clock::now() < until) {
        auto start = Clock::now();
        int status = 0;
        try {
          status = client.request("GET", path).status;
        } catch (const berth::HttpError&) {
        }
        auto elapsed = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
        if (status != 200) {
          ++failures;
          continue;
        }
        mine.push_back(elapsed);
      }
      std::lock_guard lock(mutex);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  }
  for (auto& thread : threads) thread.join();
  std::sort(latencies.begin(), latencies.end());
  auto percentile = [&](double p) { return latencies.empty() ? 0.0 : latencies[static_cast<size_t>(p * (latencies.size() - 1))]; };
  std::cout << "requests " << latencies.size() << " failures " << failures << " seconds " << seconds << " rps "
            << static_cast<long>(latencies.size() / static_cast<double>(seconds)) << " p50_us " << static_cast<long>(percentile(0.5))
            << " p99_us " << static_cast<long>(percentile(0.99)) << "\n";
  return failures == 0 ? 0 : 1;
}

int create(const std::string& socket, int clients, int each) {
  std::mutex mutex;
  std::set<std::string> acknowledged;
  std::atomic<long> refused{0};
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      berth::ApiClient client(berth::Endpoint{"unix://" + socket, ""});
      for (int i = 0; i < each; ++i) {
        std::string name = "c" + std::to_string(c) + "-" + std::to_string(i);
        try {
          client.create_workspace({name, "", "", "", {}, {}, {}}, nullptr);
          std::lock_guard lock(mutex);
          acknowledged.insert(name);
        } catch (const std::exception& error) {
          ++refused;
          std::lock_guard lock(mutex);
          std::cerr << "refused " << name << ": " << error.what() << "\n";
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  double accept_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  // Every create goes on in the server; wait until none is in progress (with a deadline).
  berth::ApiClient client(berth::Endpoint{"unix://" + socket, ""});
  std::vector<berth::Workspace> list;
  auto deadline = Clock::now() + std::chrono::minutes(5);
  while (Clock::now() < deadline) {
    list = client.list_workspaces();
    bool busy = std::any_of(list.begin(), list.end(), [](const berth::Workspace& w) { return !w.operation.empty(); });
    if (!busy) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  double total_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::set<std::string> present;
  long started = 0;
  for (const auto& w : list) {
    present.insert(w.name);
    started += w.state == berth::WorkspaceState::started;
  }
  long lost = 0;
  for (const auto& name : acknowledged) lost += !present.count(name);
  std::cout << "acknowledged " << acknowledged.size() << " refused " << refused << " lost " << lost << " started " << started
            << " accept_seconds " << accept_seconds << " total_seconds " << total_seconds << " creates_per_second "
            << static_cast<long>(acknowledged.size() / total_seconds) << "\n";
  return lost == 0 && refused == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.size() == 3 && args[0] == "fill") return fill(args[1], std::stoi(args[2]));
    if (args.size() == 5 && args[0] == "get") return get(args[1], args[2], std::stoi(args[3]), std::stoi(args[4]));
    if (args.size() == 4 && args[0] == "create") return create(args[1], std::stoi(args[2]), std::stoi(args[3]));
  } catch (const std::exception& error) {
    std::cerr << "berth-load: " << error.what() << "\n";
    return 1;
  }
  std::cerr << "usage: berth-load fill HOME N | get SOCKET NAME CLIENTS SECONDS | create SOCKET CLIENTS EACH\n";
  return 2;
}
