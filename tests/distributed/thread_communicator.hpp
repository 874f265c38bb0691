// SPDX-License-Identifier: Apache-2.0
// An in-process communicator for tests: N ranks as N threads meeting at a barrier, so the bitwise properties of
// the distributed algorithms are checked for any number of ranks without a transport.
#pragma once
#include <mmrag_rft/distributed/communicator.hpp>

#include <algorithm>
#include <barrier>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <span>
#include <thread>
#include <vector>

namespace mmrag_rft::test {

/// What the threads of one run share: a slot per rank and the barrier they meet at.
struct thread_world {
  explicit thread_world(int n)
      : size(n), sync(n), doubles(static_cast<std::size_t>(n)), ints(static_cast<std::size_t>(n)) {}
  int size;
  std::barrier<> sync;
  std::vector<std::vector<double>> doubles;
  std::vector<std::vector<std::int64_t>> ints;
};

/// Rank `rank` of a `thread_world`. Collectives: every thread posts its span, all meet, each reads every slot in
/// rank order, all meet again before a slot is reused.
class thread_communicator {
public:
  thread_communicator(thread_world& w, int rank) : w_(&w), rank_(rank) {}
  [[nodiscard]] int rank() const noexcept { return rank_; }
  [[nodiscard]] int size() const noexcept { return w_->size; }
  void all_reduce_sum(std::span<double> v) const { reduce(w_->doubles, v); }
  void all_reduce_sum(std::span<std::int64_t> v) const { reduce(w_->ints, v); }
  void all_gather(std::span<const double> in, std::span<double> out) const { gather(w_->doubles, in, out); }
  void all_gather(std::span<const std::int64_t> in, std::span<std::int64_t> out) const { gather(w_->ints, in, out); }

private:
  template <class T>
  void gather(std::vector<std::vector<T>>& slots, std::span<const T> in, std::span<T> out) const {
    slots[static_cast<std::size_t>(rank_)].assign(in.begin(), in.end());
    w_->sync.arrive_and_wait();
    for (std::size_t r = 0; r < slots.size(); ++r)
      std::copy(slots[r].begin(), slots[r].end(), out.begin() + static_cast<std::ptrdiff_t>(r * in.size()));
    w_->sync.arrive_and_wait();
  }
  template <class T>
  void reduce(std::vector<std::vector<T>>& slots, std::span<T> v) const {
    slots[static_cast<std::size_t>(rank_)].assign(v.begin(), v.end());
    w_->sync.arrive_and_wait();
    for (std::size_t i = 0; i < v.size(); ++i) {
      T s = slots[0][i];
      for (std::size_t r = 1; r < slots.size(); ++r) s += slots[r][i];
      v[i] = s;
    }
    w_->sync.arrive_and_wait();
  }
  thread_world* w_;
  int rank_;
};
static_assert(Communicator<thread_communicator>);

/// Runs `body(comm)` on `n` threads, one per rank; returns each rank's exception (null where it returned).
inline std::vector<std::exception_ptr> run_ranks(int n, const std::function<void(const thread_communicator&)>& body) {
  thread_world w(n);
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(n));
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r)
    threads.emplace_back([&, r] {
      try {
        body(thread_communicator(w, r));
      } catch (...) {
        errors[static_cast<std::size_t>(r)] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  return errors;
}

} // namespace mmrag_rft::test
