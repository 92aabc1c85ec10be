#include "common/work_queue.h"

#include <atomic>

namespace pgvault {

WorkerGroup::~WorkerGroup() {
  if (threads_.empty()) return;
  Stop(Status::Internal("worker group abandoned"));
  (void)Wait();
}

void WorkerGroup::Start(int n, const WorkerFn& fn) {
  for (int worker_idx = 0; worker_idx < std::max(1, n); ++worker_idx)
    threads_.emplace_back([this, fn] { RunHere(fn); });
}

void WorkerGroup::RunHere(const WorkerFn& fn) {
  Status s = fn(stop_.get_token());
  if (!s.ok()) Stop(s);
}

void WorkerGroup::Stop(const Status& why) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    status_ = why;
  }
  stop_.request_stop();
  if (on_stop_) on_stop_(why);
}

Status WorkerGroup::Wait() {
  for (auto& t : threads_) t.join();
  threads_.clear();
  std::lock_guard lock(mu_);
  return status_;
}

Status RunWorkers(int n, const WorkerFn& fn, OnStopFn on_stop) {
  WorkerGroup group(std::move(on_stop));
  if (n > 1) group.Start(n - 1, fn);
  group.RunHere(fn);
  return group.Wait();
}

Status ParallelFor(size_t count, int jobs, const std::function<Status(size_t idx)>& fn) {
  if (count == 0) return Status::Ok();
  std::atomic<size_t> next{0};
  int workers = static_cast<int>(std::min<size_t>(std::max(1, jobs), count));
  return RunWorkers(workers, [&](const std::stop_token& stop) {
    for (size_t idx = next++; idx < count && !stop.stop_requested(); idx = next++)
      PGV_RETURN_IF_ERROR(fn(idx));
    return Status::Ok();
  });
}

}  // namespace pgvault
