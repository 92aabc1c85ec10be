// The one way pgvault runs work on several threads. BoundedQueue hands items from producers to
// workers and bounds the memory in between (a full queue makes the producer wait); WorkerGroup
// and RunWorkers run n workers and keep the first error: it stops the group, and the group's
// on_stop hook (typically cancelling the queue the workers wait on) wakes every other worker so
// that they return instead of finishing work whose result is lost anyway. A worker that blocks
// somewhere else (a join that waits for order, say) makes the hook release that wait too.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>
#include <vector>

#include "common/status.h"

namespace pgvault {

// A FIFO of at most capacity items, safe for any number of producers and consumers.
template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity) : capacity_(std::max<size_t>(1, capacity)) {}
  BoundedQueue(const BoundedQueue&) = delete;
  BoundedQueue& operator=(const BoundedQueue&) = delete;

  // Waits while the queue is full. false (item dropped) once closed or cancelled.
  bool Push(T item) {
    std::unique_lock lock(mu_);
    not_full_.wait(lock, [&] { return items_.size() < capacity_ || closed_ || cancelled_; });
    if (closed_ || cancelled_) return false;
    items_.push_back(std::move(item));
    not_empty_.notify_one();
    return true;
  }
  // Waits for an item. nullopt once the queue is closed and drained, or cancelled.
  std::optional<T> Pop() {
    std::unique_lock lock(mu_);
    not_empty_.wait(lock, [&] { return !items_.empty() || closed_ || cancelled_; });
    if (cancelled_ || items_.empty()) return std::nullopt;
    std::optional<T> item(std::move(items_.front()));
    items_.pop_front();
    not_full_.notify_one();
    return item;
  }
  // Copies of the first n items still queued (a worker looking ahead, e.g. to prefetch).
  std::vector<T> Peek(size_t n) const {
    std::lock_guard lock(mu_);
    return std::vector<T>(items_.begin(), items_.begin() + std::min(n, items_.size()));
  }
  // No more pushes; consumers still get what is queued, then nullopt.
  void Close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    not_full_.notify_all();
    not_empty_.notify_all();
  }
  // Drops what is queued and wakes everyone: pushes and pops fail from now on.
  void Cancel() {
    std::deque<T> dropped;  // destroyed after the lock is released
    std::lock_guard lock(mu_);
    cancelled_ = true;
    dropped.swap(items_);
    not_full_.notify_all();
    not_empty_.notify_all();
  }
  bool cancelled() const {
    std::lock_guard lock(mu_);
    return cancelled_;
  }

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable not_full_, not_empty_;
  std::deque<T> items_;
  bool closed_ = false, cancelled_ = false;
};

// A worker: runs until its work is done, an error (returned), or stop is requested.
using WorkerFn = std::function<Status(std::stop_token stop)>;
// Called once, by the thread that stops the group first, with the reason.
using OnStopFn = std::function<void(const Status& why)>;

// Worker threads started now and joined later (the caller does other work meanwhile, e.g.
// feeding their queue). For workers that the caller just waits for, RunWorkers.
class WorkerGroup {
 public:
  explicit WorkerGroup(OnStopFn on_stop = {}) : on_stop_(std::move(on_stop)) {}
  ~WorkerGroup();  // stops and joins workers that Wait did not join
  WorkerGroup(const WorkerGroup&) = delete;
  WorkerGroup& operator=(const WorkerGroup&) = delete;

  // Starts n (at least 1) threads running fn. A worker that returns an error stops the group.
  void Start(int n, const WorkerFn& fn);
  // Stops the group: fails it with why unless an error came first (why may be ok: stop without
  // failing), requests stop and calls on_stop. Only the first call has an effect.
  void Stop(const Status& why);
  bool stopped() const { return stop_.stop_requested(); }
  std::stop_token stop_token() const { return stop_.get_token(); }
  // Joins the workers; the first error.
  Status Wait();

  // Runs fn as one more worker of this group, on the calling thread.
  void RunHere(const WorkerFn& fn);

 private:
  OnStopFn on_stop_;
  std::stop_source stop_;
  std::mutex mu_;
  bool stopping_ = false;
  Status status_;
  std::vector<std::thread> threads_;
};

// Runs fn on n workers (at least 1; the calling thread is one of them) and waits for all. The
// first error is the result; it requests stop for the others and calls on_stop.
Status RunWorkers(int n, const WorkerFn& fn, OnStopFn on_stop = {});

// fn(idx) for every idx in [0, count), on up to jobs workers. After the first error no new
// index is handed out; that error is the result.
Status ParallelFor(size_t count, int jobs, const std::function<Status(size_t idx)>& fn);

}  // namespace pgvault
