#include "fiber/fiber.hpp"

#include <cxxabi.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "fiber/loop.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define PGLEAK_FIBER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PGLEAK_FIBER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define PGLEAK_FIBER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PGLEAK_FIBER_TSAN 1
#endif
#endif
#ifdef PGLEAK_FIBER_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef PGLEAK_FIBER_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace pgleak::fiber {
namespace {

thread_local Loop* t_loop = nullptr;
thread_local Fiber* t_fiber = nullptr;

ExceptionState& thread_exceptions() {
  return *reinterpret_cast<ExceptionState*>(abi::__cxa_get_globals());
}

std::size_t page_size() {
  static const auto kPage = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return kPage;
}

[[noreturn]] void fail(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// A fiber's stack with a guard page below it; throws std::system_error.
void* map_stack(std::size_t bytes, std::size_t guard) {
  void* map = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (map == MAP_FAILED) {
    fail("mapping a fiber's stack");
  }
  if (::mprotect(map, guard, PROT_NONE) != 0) {
    const int saved = errno;
    ::munmap(map, bytes);
    errno = saved;
    fail("guarding a fiber's stack");
  }
  return map;
}

}  // namespace

#if defined(__x86_64__)
// Saves the callee-saved registers, the SSE and x87 control words on the
// current stack, stores its pointer in *from, and goes on from `to`'s. No
// system call, unlike swapcontext(3), which also saves the signal mask.
extern "C" void pgleak_fiber_switch(void** from, void* to);
asm(R"(
  .text
  .globl pgleak_fiber_switch
  .type pgleak_fiber_switch,@function
pgleak_fiber_switch:
  .cfi_startproc
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .cfi_endproc
  .size pgleak_fiber_switch,.-pgleak_fiber_switch
)");
#endif

void fiber_entry();

namespace {

// A new fiber's first switch lands in fiber_entry, on its own stack.
void context_init(Context& c, void* stack, std::size_t bytes) {
#if defined(__x86_64__)
  auto top = reinterpret_cast<uintptr_t>(stack) + bytes;
  top &= ~static_cast<uintptr_t>(15);
  auto* slot = reinterpret_cast<uint64_t*>(top);
  *--slot = 0;                                         // fiber_entry's return address: none
  *--slot = reinterpret_cast<uint64_t>(&fiber_entry);  // where the switch's ret goes
  for (int i = 0; i < 6; ++i) {
    *--slot = 0;  // rbp, rbx, r12-r15
  }
  uint32_t mxcsr = 0;
  uint16_t fpucw = 0;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fpucw));
  *--slot = static_cast<uint64_t>(mxcsr) | (static_cast<uint64_t>(fpucw) << 32);
  c.sp = slot;
#else
  ::getcontext(&c.uc);
  c.uc.uc_stack.ss_sp = stack;
  c.uc.uc_stack.ss_size = bytes;
  c.uc.uc_link = nullptr;
  ::makecontext(&c.uc, &fiber_entry, 0);
#endif
}

void context_switch(Context& from, Context& to) {
#if defined(__x86_64__)
  pgleak_fiber_switch(&from.sp, to.sp);
#else
  ::swapcontext(&from.uc, &to.uc);
#endif
}

}  // namespace

bool in_fiber() noexcept {
  return t_fiber != nullptr;
}

// Where a fiber begins: Loop::resume set it as the thread's fiber.
void fiber_entry() {
  Fiber* f = t_fiber;
  Loop& loop = *f->loop;
#ifdef PGLEAK_FIBER_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &loop.main_stack_bottom_, &loop.main_stack_size_);
#endif
  f->fn();  // noexcept: see Engine::spawn
  f->fn = nullptr;
  f->done = true;
  loop.to_main(*f, nullptr);  // never comes back
  std::abort();
}

namespace {

int make_eventfd() {
  const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) {
    fail("eventfd");
  }
  return fd;
}

}  // namespace

Loop::Loop(std::size_t stack_bytes, std::size_t epoll_above)
    : stack_bytes_(stack_bytes), wakeup_(make_eventfd()), poller_(wakeup_, epoll_above) {
  thread_ = std::thread{[this] { run(); }};
}

Loop::~Loop() {
  close();
  join();
  for (void* stack : spare_stacks_) {
    ::munmap(stack, stack_bytes_ + page_size());
  }
  ::close(wakeup_);
}

Fiber* Loop::current() noexcept {
  return t_fiber;
}

void Loop::spawn(std::function<void()> fn) {
  auto f = std::make_unique<Fiber>();
  f->loop = this;
  f->fn = std::move(fn);
  const std::size_t guard = page_size();
  {
    std::lock_guard lock{inbox_mutex_};
    if (!spare_stacks_.empty()) {
      f->map = spare_stacks_.back();
      spare_stacks_.pop_back();
    }
  }
  if (f->map == nullptr) {
    f->map = map_stack(stack_bytes_ + guard, guard);
  }
  context_init(f->context, static_cast<char*>(f->map) + guard, stack_bytes_);
#ifdef PGLEAK_FIBER_TSAN
  f->tsan_fiber = __tsan_create_fiber(0);
#endif
  f->seq = 1;
  f->suspended_in = 1;  // "suspended" before its start, so its first Ready resumes it
  live_.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard lock{inbox_mutex_};
    inbox_.push_back({f.get(), 1});
    fibers_.push_back(std::move(f));
  }
  const uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(wakeup_, &one, sizeof one);
}

void Loop::close() {
  {
    std::lock_guard lock{inbox_mutex_};
    closed_ = true;
  }
  const uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(wakeup_, &one, sizeof one);
}

void Loop::join() {
  if (thread_.joinable()) {
    thread_.join();
  }
}

uint32_t Loop::arm(Fiber& f) noexcept {
  if (++f.seq == 0) {
    f.seq = 2;  // 0 is "none", 1 the start
  }
  f.armed.store(f.seq, std::memory_order_release);
  return f.seq;
}

void Loop::wake(Fiber& f, uint32_t seq) noexcept {
  uint32_t expected = seq;
  if (!f.armed.compare_exchange_strong(expected, 0, std::memory_order_acq_rel)) {
    return;  // already woken, or a later wait
  }
  if (t_loop == f.loop) {
    f.loop->ready_.push_back({&f, seq});
  } else {
    f.loop->post(f, seq);
  }
}

void Loop::post(Fiber& f, uint32_t seq) noexcept {
  try {
    std::lock_guard lock{inbox_mutex_};
    inbox_.push_back({&f, seq});
  } catch (...) {
    std::terminate();  // a lost wake would hang the fiber for ever
  }
  if (sleeping_.load()) {
    const uint64_t one = 1;
    [[maybe_unused]] const auto n = ::write(wakeup_, &one, sizeof one);
  }
}

void Loop::suspend(Fiber& f, uint32_t seq, const Clock::time_point* deadline, bool idle) {
  if (f.armed.load(std::memory_order_acquire) != seq) {
    return;  // woken before it could go
  }
  if (deadline != nullptr) {
    timers_.push({*deadline, &f, seq});
  }
  f.idle = idle;
  f.suspended_in = seq;
  to_main(f, &f.asan_fake_stack);
}

void Loop::to_main(Fiber& f, void** fake_stack) {
#ifdef PGLEAK_FIBER_ASAN
  __sanitizer_start_switch_fiber(fake_stack, main_stack_bottom_, main_stack_size_);
#endif
#ifdef PGLEAK_FIBER_TSAN
  __tsan_switch_to_fiber(main_tsan_, 0);
#endif
  context_switch(f.context, main_);
#ifdef PGLEAK_FIBER_ASAN
  __sanitizer_finish_switch_fiber(*fake_stack, &main_stack_bottom_, &main_stack_size_);
#else
  static_cast<void>(fake_stack);
#endif
}

void Loop::watch(Fiber& f, uint32_t seq, int fd, short events) {
  f.io_revents = 0;
  poller_.watch(f, seq, fd, events);
}

void Loop::resume(Fiber& f) {
  t_fiber = &f;
  f.suspended_in = 0;
  auto& eh = thread_exceptions();
  main_exceptions_ = eh;
  eh = f.exceptions;
#ifdef PGLEAK_FIBER_ASAN
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, static_cast<char*>(f.map) + page_size(), stack_bytes_);
#endif
#ifdef PGLEAK_FIBER_TSAN
  __tsan_switch_to_fiber(f.tsan_fiber, 0);
#endif
  context_switch(main_, f.context);
#ifdef PGLEAK_FIBER_ASAN
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
  f.exceptions = eh;
  eh = main_exceptions_;
  t_fiber = nullptr;
  if (f.done) {
    finish(f);
  } else if (f.idle) {
    trim_stack(f);
  }
}

void Loop::trim_stack(const Fiber& f) const {
#if defined(__x86_64__)
  // Below the saved stack pointer nothing is live; keep a margin for the
  // red zone all the same. The pages read back as zeros when next touched.
  constexpr uintptr_t kMargin = 512;
  const auto low = reinterpret_cast<uintptr_t>(f.map) + page_size();
  const auto high = (reinterpret_cast<uintptr_t>(f.context.sp) - kMargin) & ~(page_size() - 1);
  if (high > low) {
    ::madvise(reinterpret_cast<void*>(low), high - low, MADV_DONTNEED);
  }
#else
  static_cast<void>(f);  // the ucontext keeps no stack pointer to trim under
#endif
}

void Loop::finish(Fiber& f) {
#ifdef PGLEAK_FIBER_ASAN
  // Its last frame never returned: its redzones must not greet the next fiber.
  __asan_unpoison_memory_region(static_cast<char*>(f.map) + page_size(), stack_bytes_);
#endif
  try {
    std::lock_guard lock{inbox_mutex_};
    spare_stacks_.push_back(f.map);
  } catch (...) {
    ::munmap(f.map, stack_bytes_ + page_size());
  }
  f.map = nullptr;
#ifdef PGLEAK_FIBER_TSAN
  __tsan_destroy_fiber(f.tsan_fiber);
  f.tsan_fiber = nullptr;
#endif
  live_.fetch_sub(1, std::memory_order_relaxed);
}

bool Loop::take_inbox() {
  bool closed = false;
  {
    std::lock_guard lock{inbox_mutex_};
    taken_.swap(inbox_);  // both keep their capacity, turn after turn
    closed = closed_;
  }
  ready_.insert(ready_.end(), taken_.begin(), taken_.end());
  taken_.clear();
  return closed;
}

void Loop::fire_timers() {
  const auto now = Clock::now();
  while (!timers_.empty() && timers_.top().at <= now) {
    const Timer t = timers_.top();
    timers_.pop();
    wake(*t.fiber, t.seq);
  }
}

void Loop::wait_for_events() {
  timespec ts{};  // zero: only a look, while fibers are ready
  const timespec* timeout = &ts;
  if (ready_.empty()) {
    sleeping_.store(true);  // before the inbox is read: see post()
    bool look_only = false;
    {
      std::lock_guard lock{inbox_mutex_};
      look_only = !inbox_.empty() || (closed_ && live_.load() == 0);
    }
    if (!look_only && timers_.empty()) {
      timeout = nullptr;
    } else if (!look_only) {
      const auto left = std::max(Clock::duration::zero(), timers_.top().at - Clock::now());
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      ts.tv_sec = static_cast<time_t>(ns / 1000000000);
      ts.tv_nsec = static_cast<long>(ns % 1000000000);
    }
  }
  poller_.wait(timeout);
  sleeping_.store(false);
}

void Loop::run() {
  t_loop = this;
#ifdef PGLEAK_FIBER_TSAN
  main_tsan_ = __tsan_get_current_fiber();
#endif
  std::vector<Ready> batch;
  while (true) {
    const bool closed = take_inbox();
    fire_timers();
    batch.swap(ready_);
    for (const auto& r : batch) {
      if (!r.fiber->done && r.fiber->suspended_in == r.seq) {
        resume(*r.fiber);
      }
    }
    batch.clear();
    // Closed, nothing is spawned; with no fiber left, nothing is posted either.
    if (closed && live_.load() == 0 && ready_.empty()) {
      break;
    }
    wait_for_events();
  }
  t_loop = nullptr;
}

Engine::Engine(EngineOptions options) : stack_bytes_(options.stack_bytes) {
  int n = options.threads;
  if (n <= 0) {
    n = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  }
  for (int i = 0; i < n; ++i) {
    loops_.push_back(std::make_unique<Loop>(stack_bytes_, options.epoll_above));
  }
}

Engine::~Engine() {
  join();
}

void Engine::spawn(std::function<void()> fn) {
  auto& loop = *loops_[next_.fetch_add(1, std::memory_order_relaxed) % loops_.size()];
  loop.spawn([fn = std::move(fn)]() noexcept { fn(); });
}

void Engine::join() {
  if (joined_) {
    return;
  }
  joined_ = true;
  for (auto& l : loops_) {
    l->close();
  }
  for (auto& l : loops_) {
    l->join();
  }
}

long Engine::live() const {
  long n = 0;
  for (const auto& l : loops_) {
    n += l->live();
  }
  return n;
}

uint64_t Engine::epoll_waits() const {
  uint64_t n = 0;
  for (const auto& l : loops_) {
    n += l->epoll_waits();
  }
  return n;
}

}  // namespace pgleak::fiber
