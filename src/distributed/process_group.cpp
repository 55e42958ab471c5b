// The ranks of a multi-process job, met through a c10d TCPStore: the
// rendezvous, small all-gathers of text (job lists, batch summaries),
// heartbeats and failure reports. Tensors do not go through the store.
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "core/torch_compat.h"
#include "core/torch_errors.h"
#include "distributed/process_group_internals.h"
#include "soragen/distributed.h"
#include "soragen/error.h"

namespace soragen {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// How often a rank beats and looks for failures, and how often a waiting
// collective polls: short against the timeouts, long against a store round trip.
constexpr auto kHeartbeatPeriod = 500ms;
constexpr auto kPollPeriod = 20ms;

const std::string kFailedKey = "soragen/failed";

std::vector<std::uint8_t> bytes(const std::string& text) { return {text.begin(), text.end()}; }
std::string text(const std::vector<std::uint8_t>& data) { return {data.begin(), data.end()}; }
std::string rank_key(const std::string& prefix, int rank) { return "soragen/" + prefix + "/" + std::to_string(rank); }

std::string seconds_text(std::chrono::milliseconds timeout) {
  return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(timeout).count()) + " s";
}

// Polls `done` until it holds or `deadline` passes; whether it held.
bool poll_until(const std::function<bool()>& done, Clock::time_point deadline) {
  while (!done()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(kPollPeriod);
  }
  return true;
}

c10::intrusive_ptr<c10d::TCPStore> connect(const LaunchEnvironment& env, bool server,
                                           std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions options;
  options.port = static_cast<std::uint16_t>(env.master_port);
  options.isServer = server;
  options.numWorkers = static_cast<std::size_t>(env.world_size);
  options.waitWorkers = false;  // the rendezvous below counts the ranks itself
  options.timeout = timeout;
  return c10::make_intrusive<c10d::TCPStore>(env.master_addr, options);
}

}  // namespace

struct ProcessGroup::State {
  LaunchEnvironment env;
  std::chrono::milliseconds timeout{};
  std::chrono::milliseconds silence{};  // the heartbeat's timeout
  std::atomic<bool>* stop = nullptr;
  c10::intrusive_ptr<c10d::TCPStore> store;    // the main thread's connection
  c10::intrusive_ptr<c10d::TCPStore> monitor;  // the heartbeat thread's own
  std::thread heartbeat;
  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
  std::optional<std::string> failure;   // another rank's, guarded by mutex
  std::optional<std::string> reported;  // this rank's own report, guarded by mutex
  int gathers = 0;
  // How many tensor channels (tensor_channel.cpp) were opened over each set
  // of members.
  std::map<std::string, int> channel_serials;

  void fail(const std::string& message) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (!failure) failure = message;
    }
    if (stop) stop->store(true);
  }

  std::optional<std::string> current_failure() {
    std::lock_guard<std::mutex> lock(mutex);
    return failure;
  }

  std::string own_report() {
    std::lock_guard<std::mutex> lock(mutex);
    return reported.value_or("");
  }

  // After a failure, rank 0 keeps the store up a little while, until every
  // rank has read the report, so that each prints the cause rather than the
  // store's loss. A rank that is dead never reads it: hence the bound.
  void linger_after_failure() {
    if (env.rank != 0 || (!current_failure() && own_report().empty())) return;
    const auto deadline = Clock::now() + std::min<std::chrono::milliseconds>(timeout, 5s);
    try {
      for (int r = 1; r < env.world_size; ++r) {
        poll_until([&] { return store->check({rank_key("stopped", r)}) || store->check({rank_key("left", r)}); },
                   deadline);
      }
    } catch (const std::exception&) {
      // The store is gone: nobody is left to read the report.
    }
  }

  // The heartbeat thread: beats, reads the failure key, and on rank 0 checks
  // that every rank still beats (a killed process cannot report itself).
  void beat() {
    std::vector<std::int64_t> last_beat(env.world_size, -1);
    std::vector<Clock::time_point> last_change(env.world_size, Clock::now());
    for (std::int64_t tick = 0;; ++tick) {
      try {
        monitor->set(rank_key("alive", env.rank), bytes(std::to_string(tick)));
        if (monitor->check({kFailedKey})) {
          const std::string report = text(monitor->get(kFailedKey));
          if (report != own_report()) fail(report);
          // Seen: rank 0 may take the store down once every rank has.
          monitor->set(rank_key("stopped", env.rank), bytes("1"));
        }
        if (env.rank == 0) watch_ranks(last_beat, last_change);
      } catch (const std::exception& e) {
        // Only the loss of the store's host (rank 0) makes a store call fail.
        fail("rank 0, which serves the job's store at " + env.master_addr + ":" + std::to_string(env.master_port) +
             ", is gone (" + brief(e) + ")");
      }
      std::unique_lock<std::mutex> lock(mutex);
      if (wake.wait_for(lock, kHeartbeatPeriod, [this] { return stopping; })) return;
    }
  }

  void watch_ranks(std::vector<std::int64_t>& last_beat, std::vector<Clock::time_point>& last_change) {
    const auto now = Clock::now();
    for (int r = 1; r < env.world_size; ++r) {
      if (monitor->check({rank_key("left", r)})) continue;  // ended well
      if (!monitor->check({rank_key("alive", r)})) {
        last_change[r] = now;  // not beating yet: the rendezvous's timeout covers it
        continue;
      }
      const std::int64_t beat = std::stoll(text(monitor->get(rank_key("alive", r))));
      if (beat != last_beat[r]) {
        last_beat[r] = beat;
        last_change[r] = now;
      } else if (now - last_change[r] > silence) {
        const std::string message = "rank " + std::to_string(r) + " sent no heartbeat for " + seconds_text(silence) +
                                    " (killed, or its machine is gone)";
        monitor->set(kFailedKey, bytes(message));
        fail(message);
      }
    }
  }

  void stop_heartbeat() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stopping = true;
    }
    wake.notify_all();
    if (heartbeat.joinable()) heartbeat.join();
  }

  // Polls until every key is in the store, the job fails, or (with a
  // deadline) time runs out. Keys that are all in count even when a rank
  // failed meanwhile: a gather complete before a rank refused its result
  // (another batch, say) lets this rank find the same fault itself.
  void wait_for(const std::vector<std::string>& keys, std::optional<Clock::time_point> deadline,
                const std::function<std::string()>& what = nullptr) {
    for (;;) {
      try {
        if (store->check(keys)) return;
      } catch (const std::exception& e) {
        fail("the job's store at " + env.master_addr + ":" + std::to_string(env.master_port) + " is gone (" +
             brief(e) + ")");
      }
      if (auto failed = current_failure()) throw RankFailedError(*failed);
      if (deadline && Clock::now() > *deadline) throw RankFailedError(what());
      std::this_thread::sleep_for(kPollPeriod);
    }
  }
};

ProcessGroup::ProcessGroup(std::unique_ptr<State> state) : state_(std::move(state)) {}

ProcessGroup::~ProcessGroup() {
  state_->stop_heartbeat();
  state_->linger_after_failure();
}

std::unique_ptr<ProcessGroup> ProcessGroup::join(const LaunchEnvironment& env, std::chrono::milliseconds timeout,
                                                 std::atomic<bool>* stop,
                                                 std::optional<std::chrono::milliseconds> silence) {
  auto state = std::make_unique<State>();
  state->env = env;
  state->timeout = timeout;
  state->silence = silence.value_or(timeout);
  state->stop = stop;
  const std::string where = env.master_addr + ":" + std::to_string(env.master_port);
  try {
    state->store = connect(env, env.rank == 0, timeout);
    state->monitor = connect(env, false, timeout);
  } catch (const std::exception& e) {
    throw RankFailedError("rank " + std::to_string(env.rank) + " of " + std::to_string(env.world_size) +
                          " could not " + (env.rank == 0 ? "serve" : "reach") + " the job's store at " + where +
                          " within " + seconds_text(timeout) + " (" + brief(e) + ")");
  }
  state->heartbeat = std::thread([s = state.get()] { s->beat(); });
  auto group = std::unique_ptr<ProcessGroup>(new ProcessGroup(std::move(state)));
  State& s = *group->state_;
  s.store->add("soragen/joined", 1);
  std::vector<std::string> everyone;
  for (int r = 0; r < env.world_size; ++r) everyone.push_back(rank_key("alive", r));
  s.wait_for(everyone, Clock::now() + timeout, [&] {
    return "the job's " + std::to_string(env.world_size) + " processes did not all join at " + where + " within " +
           seconds_text(timeout) + " (" + std::to_string(s.store->add("soragen/joined", 0)) + " did)";
  });
  return group;
}

int ProcessGroup::rank() const { return state_->env.rank; }
int ProcessGroup::world_size() const { return state_->env.world_size; }

std::vector<std::string> ProcessGroup::all_gather(const std::string& tag, const std::string& value) {
  State& s = *state_;
  const std::string prefix = "gather/" + std::to_string(s.gathers++) + "-" + tag;
  s.store->set(rank_key(prefix, s.env.rank), bytes(value));
  std::vector<std::string> keys;
  for (int r = 0; r < s.env.world_size; ++r) keys.push_back(rank_key(prefix, r));
  s.wait_for(keys, std::nullopt);
  std::vector<std::string> values;
  for (const std::string& key : keys) values.push_back(text(s.store->get(key)));
  return values;
}

void ProcessGroup::report_failure(const std::string& message) {
  State& s = *state_;
  const std::string report = "rank " + std::to_string(s.env.rank) + ": " + message;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    s.reported = report;
  }
  try {
    // The first report wins: a rank stopped by another's failure does not
    // overwrite the cause.
    if (!s.store->check({kFailedKey})) s.store->set(kFailedKey, bytes(report));
    s.store->set(rank_key("stopped", s.env.rank), bytes("1"));
  } catch (const std::exception&) {
    // The store is gone with rank 0; the other ranks see that on their own.
  }
}

std::optional<std::string> ProcessGroup::failure() const { return state_->current_failure(); }

c10::intrusive_ptr<c10d::Store> ProcessGroupInternals::store(ProcessGroup& group) { return group.state_->store; }
std::chrono::milliseconds ProcessGroupInternals::timeout(const ProcessGroup& group) { return group.state_->timeout; }
const LaunchEnvironment& ProcessGroupInternals::env(const ProcessGroup& group) { return group.state_->env; }
int ProcessGroupInternals::next_channel_serial(ProcessGroup& group, const std::string& members) {
  return group.state_->channel_serials[members]++;
}

void ProcessGroup::leave() {
  State& s = *state_;
  s.stop_heartbeat();
  s.store->set(rank_key("left", s.env.rank), bytes("1"));
  if (s.env.rank != 0) return;
  // Rank 0 serves the store: it stays until the others have read the last
  // gather and left, or the timeout says they never will.
  std::vector<std::string> keys;
  for (int r = 0; r < s.env.world_size; ++r) keys.push_back(rank_key("left", r));
  poll_until([&] { return s.store->check(keys); }, Clock::now() + s.timeout);
}

}  // namespace soragen
