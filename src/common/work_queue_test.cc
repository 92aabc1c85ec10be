#include "common/work_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>

namespace pgvault {
namespace {

using namespace std::chrono_literals;

TEST(BoundedQueueTest, FullQueueBlocksTheProducerUntilAConsumerPops) {
  BoundedQueue<int> queue(2);
  ASSERT_TRUE(queue.Push(1));
  ASSERT_TRUE(queue.Push(2));
  std::atomic<bool> pushed{false};
  std::thread producer([&] {
    EXPECT_TRUE(queue.Push(3));
    pushed = true;
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(pushed.load()) << "a push into a full queue must wait";
  EXPECT_EQ(queue.Pop(), 1);
  producer.join();
  EXPECT_TRUE(pushed.load());
  EXPECT_EQ(queue.Pop(), 2);
  EXPECT_EQ(queue.Pop(), 3);
}

TEST(BoundedQueueTest, CloseDrainsThenEnds) {
  BoundedQueue<std::string> queue(4);
  ASSERT_TRUE(queue.Push("a"));
  ASSERT_TRUE(queue.Push("b"));
  EXPECT_EQ(queue.Peek(5), (std::vector<std::string>{"a", "b"}));
  queue.Close();
  EXPECT_FALSE(queue.Push("c")) << "no pushes after close";
  EXPECT_EQ(queue.Pop(), "a");
  EXPECT_EQ(queue.Pop(), "b");
  EXPECT_EQ(queue.Pop(), std::nullopt);
  EXPECT_EQ(queue.Pop(), std::nullopt);
}

TEST(BoundedQueueTest, CloseWakesAWaitingConsumer) {
  BoundedQueue<int> queue(1);
  auto popped = std::async(std::launch::async, [&] { return queue.Pop(); });
  std::this_thread::sleep_for(20ms);
  queue.Close();
  EXPECT_EQ(popped.get(), std::nullopt);
}

TEST(BoundedQueueTest, CancelWakesProducersAndConsumersAndDropsItems) {
  BoundedQueue<int> full(1), empty(1);
  ASSERT_TRUE(full.Push(1));
  auto producer = std::async(std::launch::async, [&] { return full.Push(2); });
  auto consumer = std::async(std::launch::async, [&] { return empty.Pop(); });
  std::this_thread::sleep_for(20ms);
  full.Cancel();
  empty.Cancel();
  EXPECT_FALSE(producer.get());
  EXPECT_EQ(consumer.get(), std::nullopt);
  EXPECT_TRUE(full.cancelled());
  EXPECT_EQ(full.Pop(), std::nullopt) << "queued items are dropped";
  EXPECT_FALSE(full.Push(3));
}

TEST(RunWorkersTest, FirstErrorWinsAndTheOthersStop) {
  BoundedQueue<int> queue(4);
  std::atomic<int> stopped_workers{0}, stop_calls{0};
  std::thread producer([&] {
    for (int item = 0; queue.Push(item); ++item) {
    }  // until the failure cancels the queue
  });
  Status s = RunWorkers(
      4,
      [&](std::stop_token stop) {
        while (auto item = queue.Pop()) {
          if (*item == 10) return Status::Io("item 10 failed");
        }
        if (stop.stop_requested()) stopped_workers++;
        return Status::Ok();
      },
      [&](const Status& why) {
        stop_calls++;
        EXPECT_EQ(why.message(), "item 10 failed");
        queue.Cancel();
      });
  producer.join();
  EXPECT_EQ(s.code(), Code::kIo);
  EXPECT_EQ(s.message(), "item 10 failed");
  EXPECT_EQ(stop_calls.load(), 1);
  EXPECT_EQ(stopped_workers.load(), 3);
}

TEST(RunWorkersTest, LaterErrorsDoNotReplaceTheFirst) {
  std::atomic<int> arrived{0};
  Status s = RunWorkers(3, [&](std::stop_token stop) {
    int me = arrived++;
    if (me == 0) return Status::Conflict("first");
    while (!stop.stop_requested()) std::this_thread::yield();
    return Status::Io("second");
  });
  EXPECT_EQ(s.message(), "first");
}

TEST(RunWorkersTest, AllSucceed) {
  std::atomic<int> ran{0};
  EXPECT_TRUE(RunWorkers(3, [&](std::stop_token) {
                ran++;
                return Status::Ok();
              }).ok());
  EXPECT_EQ(ran.load(), 3);
}

TEST(WorkerGroupTest, StopFailsTheGroupAndWakesWorkers) {
  BoundedQueue<int> queue(1);
  WorkerGroup group([&](const Status&) { queue.Cancel(); });
  group.Start(2, [&](std::stop_token) {
    while (queue.Pop()) {
    }
    return Status::Ok();
  });
  group.Stop(Status::Io("abandoned"));
  EXPECT_TRUE(group.stopped());
  EXPECT_EQ(group.Wait().message(), "abandoned");
}

TEST(ParallelForTest, VisitsEveryIndexOnceOrStopsAtTheFirstError) {
  std::vector<std::atomic<int>> seen(100);
  ASSERT_TRUE(ParallelFor(seen.size(), 4, [&](size_t idx) {
                seen[idx]++;
                return Status::Ok();
              }).ok());
  for (auto& n : seen) EXPECT_EQ(n.load(), 1);

  std::atomic<bool> failed{false};
  std::atomic<size_t> after{0};
  Status s = ParallelFor(1000, 2, [&](size_t idx) {
    if (idx == 5) {
      failed = true;
      return Status::Io("index 5");
    }
    if (idx > 5) {
      while (!failed) std::this_thread::yield();
      std::this_thread::sleep_for(1ms);
      after++;
    }
    return Status::Ok();
  });
  EXPECT_EQ(s.message(), "index 5");
  EXPECT_LT(after.load(), 10u) << "indexes are no longer handed out after the error";
}

}  // namespace
}  // namespace pgvault
