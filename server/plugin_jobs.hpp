#pragma once
// Plugins' scheduled jobs (the manifest's `jobs:`): the server checks each enabled plugin's
// enabled jobs at every minute (local time, cron's five fields) and runs those due — one of the
// plugin's CLI commands (through this berth, with the plugin's own credential) or one of its host
// binaries — each under its timeout, at most one run of a job at a time. The last runs of each
// job, with exit code and the end of their output, are kept for `berth plugin jobs NAME`, the
// dashboard and GET /v1/plugins/NAME/jobs.
#include "plugin_access.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace berth {

class PluginJobs {
 public:
  // berth: this berth's executable (a job that runs a plugin command runs `berth COMMAND...`);
  // home: the home to run it against with --home ("" when the server found it from the environment,
  // which the command then gets too).
  PluginJobs(PluginAccess& access, std::filesystem::path berth, std::filesystem::path home);
  ~PluginJobs();
  PluginJobs(const PluginJobs&) = delete;
  PluginJobs& operator=(const PluginJobs&) = delete;

  void start();
  void stop();  // waits for running jobs' threads (each is bounded by its timeout, and killed first)

  // Runs job of plugin now, in the background (as the schedule would). Throws not_found.
  void run_now(const std::string& plugin, const std::string& job);
  // Each job of plugin: its manifest facts and its last runs, newest first.
  nlohmann::json jobs_json(const PluginEntry& plugin);

  static constexpr size_t kRunsKept = 10;
  static constexpr size_t kOutputKept = 4096;

 private:
  struct Run {
    std::string started_at, ended_at, trigger;
    int exit_code = -1;
    bool timed_out = false;
    std::string output;
  };
  void loop();
  void launch(const PluginEntry& plugin, const PluginJob& job, const std::string& trigger);  // with mutex_ held

  PluginAccess& access_;
  std::filesystem::path berth_;
  std::filesystem::path home_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread scheduler_;
  struct Runner {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Runner> runners_;
  std::map<std::string, pid_t> running_;            // plugin/job -> its process (0 until it runs)
  std::map<std::string, std::deque<Run>> runs_;     // plugin/job -> newest first
};

}  // namespace berth
