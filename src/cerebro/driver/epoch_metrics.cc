#include "cerebro/driver/epoch_metrics.h"

#include <algorithm>
#include <utility>

namespace cerebro::driver {

void EpochAccumulator::Add(UnitKind kind, int partition, WorkerId worker, double loss_sum,
                           double correct, int64_t examples, double compute_seconds) {
  Part& part = (kind == UnitKind::kTrain ? train_ : eval_)[static_cast<size_t>(partition)];
  part.loss_sum = loss_sum;
  part.correct = correct;
  part.n = examples;
  part.compute = compute_seconds;
  part.worker = worker;
  if (kind == UnitKind::kTrain) part.seq = next_seq_++;
}

store::EpochRow EpochAccumulator::Close(ModelId model, int epoch) const {
  store::EpochRow row;
  row.model_id = model;
  row.epoch = epoch + 1;
  double train_loss = 0, train_correct = 0, val_loss = 0, val_correct = 0;
  std::vector<std::pair<int, int>> order;  // (seq, partition)
  for (size_t p = 0; p < train_.size(); ++p) {
    const Part& part = train_[p];
    train_loss += part.loss_sum;
    train_correct += part.correct;
    row.train_examples += part.n;
    row.seconds += part.compute;
    if (part.seq >= 0) order.push_back({part.seq, static_cast<int>(p)});
  }
  std::sort(order.begin(), order.end());
  for (const auto& [seq, p] : order) {
    row.train_order.push_back(p);
    row.workers.push_back(train_[static_cast<size_t>(p)].worker);
  }
  for (const Part& part : eval_) {
    val_loss += part.loss_sum;
    val_correct += part.correct;
    row.val_examples += part.n;
    row.seconds += part.compute;
  }
  if (row.train_examples > 0) {
    row.train_loss = train_loss / row.train_examples;
    row.train_accuracy = train_correct / row.train_examples;
  }
  if (row.val_examples > 0) {
    row.val_loss = val_loss / row.val_examples;
    row.val_accuracy = val_correct / row.val_examples;
  }
  return row;
}

}  // namespace cerebro::driver
