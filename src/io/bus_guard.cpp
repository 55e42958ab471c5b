#include "io/bus_guard.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <mutex>

#include "soragen/error.h"

namespace soragen::io {
namespace {

// Enough for every shard of a 14B checkpoint plus the other models.
constexpr int kSlots = 256;

struct Slot {
  std::atomic<uintptr_t> begin{0};
  std::atomic<uintptr_t> end{0};  // 0: free
  std::atomic<bool> faulted{false};
  const std::string* label = nullptr;  // read outside the handler only, under g_mutex
};

Slot g_slots[kSlots];
std::mutex g_mutex;  // registration and label reads; never taken in the handler
struct sigaction g_previous {};
bool g_installed = false;

void forward(int sig, siginfo_t* info, void* context) {
  if (g_previous.sa_flags & SA_SIGINFO) {
    if (g_previous.sa_sigaction) g_previous.sa_sigaction(sig, info, context);
    return;
  }
  if (g_previous.sa_handler == SIG_IGN) return;
  if (g_previous.sa_handler == SIG_DFL || g_previous.sa_handler == nullptr) {
    // Returning re-executes the access, which faults again and now kills the
    // process with the default action, as if we had never been here.
    signal(sig, SIG_DFL);
    return;
  }
  g_previous.sa_handler(sig);
}

// Only async-signal-safe work here: atomics and mmap (a plain system call).
void on_sigbus(int sig, siginfo_t* info, void* context) {
  const auto address = reinterpret_cast<uintptr_t>(info->si_addr);
  for (Slot& slot : g_slots) {
    const uintptr_t end = slot.end.load(std::memory_order_acquire);
    if (end == 0 || address < slot.begin.load(std::memory_order_relaxed) || address >= end) continue;
    const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    void* start = reinterpret_cast<void*>(address & ~(page - 1));
    // A private zero page in place of the vanished file page; the faulting
    // read is retried on return and sees zeros.
    if (mmap(start, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) {
      break;
    }
    slot.faulted.store(true, std::memory_order_release);
    return;
  }
  forward(sig, info, context);
}

void install_locked() {
  if (g_installed) return;
  struct sigaction action {};
  action.sa_sigaction = on_sigbus;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_SIGINFO;
  if (sigaction(SIGBUS, &action, &g_previous) == 0) g_installed = true;
}

}  // namespace

int guard_mapping(const void* begin, size_t size, const std::string* label) {
  std::lock_guard<std::mutex> lock(g_mutex);
  install_locked();
  for (int i = 0; i < kSlots; ++i) {
    Slot& slot = g_slots[i];
    if (slot.end.load(std::memory_order_relaxed) != 0) continue;
    slot.label = label;
    slot.faulted.store(false, std::memory_order_relaxed);
    slot.begin.store(reinterpret_cast<uintptr_t>(begin), std::memory_order_relaxed);
    slot.end.store(reinterpret_cast<uintptr_t>(begin) + size, std::memory_order_release);
    return i;
  }
  return -1;
}

void unguard_mapping(int slot) {
  if (slot < 0) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  g_slots[slot].end.store(0, std::memory_order_release);
  g_slots[slot].label = nullptr;
}

bool mapping_faulted(int slot) {
  return slot >= 0 && g_slots[slot].faulted.load(std::memory_order_acquire);
}

void check_mappings_intact() {
  std::lock_guard<std::mutex> lock(g_mutex);
  for (const Slot& slot : g_slots) {
    if (slot.end.load(std::memory_order_relaxed) == 0 || !slot.faulted.load(std::memory_order_acquire)) continue;
    throw ModelError("weights '" + (slot.label ? *slot.label : std::string("?")) +
                     "': the file shrank while it was being read (truncated or overwritten during loading?)");
  }
}

}  // namespace soragen::io
