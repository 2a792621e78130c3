// RunState under run.checkpoint epoch: retention keeps a model's last durable state beside
// the page-cache ones, and a rolled_back record reopens that epoch's training from it.
#include "cerebro/driver/run_state.h"

#include <gtest/gtest.h>

#include "cerebro/store/experiment_store.h"

namespace cerebro::driver {
namespace {

store::UnitDone Eval(int epoch, int partition) {
  store::UnitDone r;
  r.model = 0;
  r.epoch = epoch;
  r.kind = UnitKind::kEval;
  r.partition = partition;
  r.worker = partition;
  r.examples = 10;
  return r;
}

store::UnitDone Train(int epoch, int partition, int seq, bool durable) {
  store::UnitDone r = Eval(epoch, partition);
  r.kind = UnitKind::kTrain;
  r.checkpoint = store::ExperimentStore::CheckpointName(0, seq);
  r.state_size = 100 + seq;
  r.state_hash = 1000 + seq;
  r.durable = durable;
  return r;
}

class EpochCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RunConfig c;
    c.worker_partition = {0, 1, 2};
    c.hopper.order = sched::Order::kFixed;
    state_ = std::make_unique<RunState>(c);
    store::ModelAdded add{0, spec::Json{{"lr", 0.1}}, store::ModelOrigin::kSearch, 2, -1, ""};
    Apply(add);
    order_ = state_->hopper().FixedOrder(0, 0);
  }
  Effects Apply(const store::Record& r) {
    Effects fx;
    Status st = state_->Apply(r, &fx);
    EXPECT_TRUE(st.ok()) << st.message();
    return fx;
  }
  std::unique_ptr<RunState> state_;
  std::vector<int> order_;
};

TEST_F(EpochCheckpointTest, OnlyTheEpochsLastTrainingUnitIsDurableAndRetentionKeepsIt) {
  sched::Unit u{0, 0, UnitKind::kTrain, order_[0], order_[0]};
  EXPECT_FALSE(state_->EndsEpochTraining(u));
  Apply(Train(0, order_[0], 1, false));
  Effects fx = Apply(Train(0, order_[1], 2, false));
  EXPECT_EQ(fx.obsolete_states, std::vector<std::string>{Train(0, 0, 1, false).checkpoint});
  u.partition = u.worker = order_[2];
  EXPECT_TRUE(state_->EndsEpochTraining(u));
  fx = Apply(Train(0, order_[2], 3, true));
  EXPECT_EQ(fx.obsolete_states, std::vector<std::string>{Train(0, 0, 2, false).checkpoint});
  for (int p = 0; p < 3; ++p) Apply(Eval(0, p));
  // Epoch 2: the durable state of epoch 1 stays beside the page-cache ones.
  const std::vector<int> order = state_->hopper().FixedOrder(0, 1);
  fx = Apply(Train(1, order[0], 4, false));
  EXPECT_TRUE(fx.obsolete_states.empty());
  const std::set<std::string> keep = state_->StatesToKeep();
  EXPECT_EQ(keep, (std::set<std::string>{Train(0, 0, 3, true).checkpoint,
                                          Train(0, 0, 4, false).checkpoint}));
  fx = Apply(Train(1, order[1], 5, false));
  EXPECT_EQ(fx.obsolete_states, std::vector<std::string>{Train(0, 0, 4, false).checkpoint});
  // Lost: the epoch's training reopens from the durable state, in the same order.
  fx = Apply(store::StateRolledBack{0, 1, Train(0, 0, 5, false).checkpoint, "lost"});
  EXPECT_EQ(fx.obsolete_states, std::vector<std::string>{Train(0, 0, 5, false).checkpoint});
  const ModelRun& m = state_->model(0);
  EXPECT_EQ(m.outcome.checkpoint, Train(0, 0, 3, true).checkpoint);
  EXPECT_EQ(m.state_size, 103u);
  EXPECT_EQ(m.state_hash, 1003u);
  EXPECT_EQ(m.train_seq, 3);
  EXPECT_EQ(m.outcome.train_units, 3);
  Apply(Train(1, order[0], 4, false));  // the redo names the same files again
  Apply(Train(1, order[1], 5, false));
  Apply(Train(1, order[2], 6, true));
  for (int p = 0; p < 3; ++p) Apply(Eval(1, p));
  EXPECT_TRUE(state_->Done());
  EXPECT_EQ(state_->rows().size(), 2u);
  // A rollback that does not fit (the model is done) is refused.
  Effects ignored;
  EXPECT_EQ(state_->Apply(store::StateRolledBack{0, 1, Train(0, 0, 6, true).checkpoint, ""}, &ignored)
                .code(),
            StatusCode::kDataLoss);
}

TEST_F(EpochCheckpointTest, UnderUnitCheckpointsEveryStateReplacesThePrevious) {
  Apply(Train(0, order_[0], 1, true));
  Effects fx = Apply(Train(0, order_[1], 2, true));
  EXPECT_EQ(fx.obsolete_states, std::vector<std::string>{Train(0, 0, 1, true).checkpoint});
  EXPECT_EQ(state_->StatesToKeep(), std::set<std::string>{Train(0, 0, 2, true).checkpoint});
  // Nothing to roll back to: the latest state is durable.
  Effects ignored;
  EXPECT_FALSE(state_->Apply(store::StateRolledBack{0, 0, Train(0, 0, 2, true).checkpoint, ""},
                             &ignored)
                   .ok());
}

}  // namespace
}  // namespace cerebro::driver
