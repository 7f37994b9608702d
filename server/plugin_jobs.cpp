#include "plugin_jobs.hpp"

#include "clock.hpp"
#include "errors.hpp"
#include "host_binary.hpp"
#include "home.hpp"

#include <algorithm>
#include <ctime>

#include <signal.h>

namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace berth {

PluginJobs::PluginJobs(PluginAccess& access, fs::path berth, fs::path home) : access_(access), berth_(std::move(berth)), home_(std::move(home)) {}

PluginJobs::~PluginJobs() { stop(); }

void PluginJobs::start() {
  std::lock_guard lock(mutex_);
  if (scheduler_.joinable()) return;
  stopping_ = false;
  scheduler_ = std::thread(&PluginJobs::loop, this);
}

void PluginJobs::stop() {
  std::vector<Runner> runners;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    runners.swap(runners_);
    for (const auto& [key, pid] : running_) {
      if (pid > 0) ::kill(-pid, SIGKILL);  // a job does not hold the server's stop for its timeout
    }
  }
  wake_.notify_all();
  if (scheduler_.joinable()) scheduler_.join();
  for (auto& runner : runners) {
    if (runner.thread.joinable()) runner.thread.join();
  }
}

void PluginJobs::loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    // Until the next minute starts (by the wall clock, as cron), or stop.
    auto now = std::chrono::system_clock::now();
    auto next = std::chrono::ceil<std::chrono::minutes>(now + std::chrono::milliseconds(1));
    wake_.wait_until(lock, next, [&] { return stopping_; });
    if (stopping_) break;
    std::time_t at = std::chrono::system_clock::to_time_t(std::chrono::floor<std::chrono::minutes>(std::chrono::system_clock::now()));
    std::tm local {};
    ::localtime_r(&at, &local);
    lock.unlock();
    std::vector<PluginEntry> plugins;
    try {
      plugins = discover_plugins(access_.folders(), {});
    } catch (const std::exception&) {
    }
    lock.lock();
    for (const auto& plugin : plugins) {
      if (plugin.state != PluginState::enabled || !plugin.consented) continue;  // nothing runs before the user agreed
      for (const auto& job : plugin.extensions.jobs) {
        if (job.enabled && job.schedule.matches(local.tm_min, local.tm_hour, local.tm_mday, local.tm_mon + 1, local.tm_wday)) {
          launch(plugin, job, "schedule");
        }
      }
    }
  }
}

void PluginJobs::launch(const PluginEntry& plugin, const PluginJob& job, const std::string& trigger) {
  std::string key = plugin.name + "/" + job.id;
  if (stopping_) return;
  if (running_.count(key)) {
    access_.log(plugin.name, "job " + job.id + " is still running; this " + trigger + "'s run is skipped");
    return;
  }
  bool own_binary = false;
  fs::path program;
  std::vector<std::string> args;
  for (const auto& binary : plugin.extensions.binaries) {
    if (binary.name == job.command.front()) {
      own_binary = true;
      program = binary.path;
    }
  }
  if (own_binary) {
    if (!plugin.granted.count("host-binaries")) {
      access_.log(plugin.name, "job " + job.id + " not run: it runs a host binary and the plugin was not granted 'host-binaries'");
      return;
    }
    args.assign(job.command.begin() + 1, job.command.end());
  } else {
    program = berth_;  // one of its CLI commands, through this berth (which gives it its credential)
    if (!home_.empty()) args = {"--home", home_.string()};
    args.insert(args.end(), job.command.begin(), job.command.end());
  }
  running_[key] = 0;
  // Runs that ended are joined here (each sets done as its last act), so no thread is left unowned.
  for (auto it = runners_.begin(); it != runners_.end();) {
    if (*it->done) {
      it->thread.join();
      it = runners_.erase(it);
    } else {
      ++it;
    }
  }
  auto done = std::make_shared<std::atomic<bool>>(false);
  std::string name = plugin.name;
  fs::path data = access_.data_root() / name;
  int timeout = job.timeout_seconds;
  std::string id = job.id;
  access_.log(name, "job " + id + " started (" + trigger + ")");
  std::thread thread([this, key, name, id, program, args, data, timeout, trigger, done] {
    Run run;
    run.trigger = trigger;
    run.started_at = now_rfc3339();
    try {
      create_private_folders(data);
      const char* path = std::getenv("PATH");
      std::vector<std::string> environment{"PATH=" + std::string(path ? path : "/usr/bin:/bin"), "LANG=C.UTF-8", "BERTH_PLUGIN=" + name,
                                           "BERTH_NO_AUTOSTART=1"};
      if (program == berth_) {
        // A plugin command finds this server's home as the server did.
        for (const char* variable : {"HOME", "BERTH_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"}) {
          if (const char* value = std::getenv(variable)) environment.push_back(std::string(variable) + "=" + value);
        }
      } else {
        environment.push_back("HOME=" + data.string());
      }
      HostBinaryRun result = run_host_binary(program, args, data, environment, std::chrono::seconds(timeout), [&](pid_t pid) {
        std::lock_guard lock(mutex_);
        running_[key] = pid;
        if (stopping_ && pid > 0) ::kill(-pid, SIGKILL);
      });
      run.exit_code = result.exit_code;
      run.timed_out = result.timed_out;
      run.output = result.out + result.err;
    } catch (const std::exception& error) {
      run.output = error.what();
    }
    if (run.output.size() > kOutputKept) run.output.erase(0, run.output.size() - kOutputKept);
    run.ended_at = now_rfc3339();
    access_.log(name, "job " + id + (run.timed_out ? " killed after its timeout of " + std::to_string(timeout) + " s"
                                                     : " ended with exit code " + std::to_string(run.exit_code)));
    {
      std::lock_guard lock(mutex_);
      auto& kept = runs_[key];
      kept.push_front(std::move(run));
      while (kept.size() > kRunsKept) kept.pop_back();
      running_.erase(key);
    }
    *done = true;
  });
  runners_.push_back(Runner{std::move(thread), done});
}

void PluginJobs::run_now(const std::string& plugin, const std::string& job) {
  PluginEntry entry = access_.entry(plugin);
  if (entry.state != PluginState::enabled) throw unavailable("plugin '" + plugin + "' is " + to_string(entry.state));
  if (!entry.consented) throw Error("forbidden", "plugin '" + plugin + "' has not been enabled with its permissions shown: berth plugin enable " + plugin);
  for (const auto& candidate : entry.extensions.jobs) {
    if (candidate.id == job) {
      std::lock_guard lock(mutex_);
      if (running_.count(plugin + "/" + job)) throw conflict("job '" + job + "' of plugin '" + plugin + "' is running already");
      launch(entry, candidate, "request");
      return;
    }
  }
  throw not_found("plugin '" + plugin + "' has no job '" + job + "' (berth plugin jobs " + plugin + ")");
}

Json PluginJobs::jobs_json(const PluginEntry& plugin) {
  std::lock_guard lock(mutex_);
  Json list = Json::array();
  for (const auto& job : plugin.extensions.jobs) {
    std::string key = plugin.name + "/" + job.id;
    Json runs = Json::array();
    if (auto it = runs_.find(key); it != runs_.end()) {
      for (const auto& run : it->second) {
        runs.push_back({{"started_at", run.started_at}, {"ended_at", run.ended_at}, {"trigger", run.trigger}, {"exit_code", run.exit_code},
                        {"timed_out", run.timed_out}, {"output", run.output}});
      }
    }
    list.push_back({{"id", job.id}, {"schedule", job.schedule.text}, {"command", job.command}, {"timeout", job.timeout_seconds},
                    {"enabled", job.enabled}, {"running", running_.count(key) > 0}, {"runs", runs}});
  }
  return list;
}

}  // namespace berth
