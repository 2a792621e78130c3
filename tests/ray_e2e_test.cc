// End-to-end on a real Ray cluster: the driver with `backend: ray`, actors running the
// real trainer on a real partitioned store. The suite starts its own one-node head on
// loopback (a free port, a private temp dir) and checks at the end that none of its
// processes survive. Built only when Ray's C++ API was found (CEREBRO_WITH_RAY).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <chrono>
#include <dirent.h>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include "cerebro/driver/driver.h"
#include "cerebro/exec/ray/ray_backend.h"
#include "cerebro/exec/ray/ray_head.h"
#include "run_helpers.h"
#include "test_data.h"

namespace cerebro {
namespace {

using driver::RunExperiment;
using driver::RunOptions;
using testing::ExpectEveryUnitExactlyOnce;
using testing::Options;
using testing::ParseOrDie;
using testing::ReadJsonLines;
using testing::TempDir;


// metrics.jsonl rows without wall-clock fields, sorted: what must not depend on timing.
std::vector<std::string> MetricsWithoutTiming(const std::string& run_dir) {
  std::vector<std::string> rows;
  for (auto j : ReadJsonLines(run_dir + "/metrics.jsonl")) {
    j.erase("seconds");
    rows.push_back(j.dump());
  }
  std::sort(rows.begin(), rows.end());
  return rows;
}

// checkpoints/ of a run: file name -> bytes.
std::map<std::string, std::string> Checkpoints(const std::string& run_dir) {
  std::map<std::string, std::string> files;
  std::string dir = run_dir + "/checkpoints";
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") files[name] = testing::ReadFileOrEmpty(dir + "/" + name);
    }
    ::closedir(d);
  }
  return files;
}

// The 4-model grid, 2 epochs on 2 workers in fixed order, on a fresh CSV in tmp.
std::string FixedOrderGrid(const TempDir& tmp) {
  return testing::SmallSpec(testing::WriteBlobsCsv(tmp.path(), 600), 2, 2, "  order: fixed\n");
}

// The same grid with one hidden-layer choice widened so those models' states (weights
// and Adam's moments, ~0.8 MB) exceed the 100 KB up to which Ray inlines a task's result
// in its reply: they move between nodes through the object stores.
std::string WithBigStates(std::string spec) {
  const std::string small = "hidden: {choice: [[16], [32, 16]]}";
  const size_t at = spec.find(small);
  EXPECT_NE(at, std::string::npos) << "SmallSpec changed";
  if (at != std::string::npos) spec.replace(at, small.size(), "hidden: {choice: [[16], [256, 256]]}");
  return spec;
}

// Same trainer, seeds and partition order: the same numbers, to the bit, and the same
// model states (the checkpoints, file by file).
void ExpectSameAsLocal(const driver::RunResult& ray, const driver::RunResult& local) {
  EXPECT_EQ(MetricsWithoutTiming(ray.run_dir), MetricsWithoutTiming(local.run_dir));
  EXPECT_EQ(ray.best_model, local.best_model);
  EXPECT_EQ(ray.best_value, local.best_value);
  std::map<std::string, std::string> local_states = Checkpoints(local.run_dir);
  EXPECT_GE(local_states.size(), 4u);
  EXPECT_TRUE(local_states == Checkpoints(ray.run_dir));
}

// Processes of any Cerebro-started Ray head (their command lines name its temp dir).
std::set<int> CerebroRayProcesses(const std::string& except_dir) {
  std::set<int> pids;
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr) return pids;
  while (dirent* e = ::readdir(dir)) {
    std::string name = e->d_name;
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = testing::ReadFileOrEmpty("/proc/" + name + "/cmdline");
    std::string stat = testing::ReadFileOrEmpty("/proc/" + name + "/stat");
    size_t rp = stat.rfind(')');
    if (rp != std::string::npos && rp + 2 < stat.size() && stat[rp + 2] == 'Z') continue;
    if (cmdline.find("/tmp/cerebro-ray-") != std::string::npos &&
        (except_dir.empty() || cmdline.find(except_dir) == std::string::npos)) {
      pids.insert(std::stoi(name));
    }
  }
  ::closedir(dir);
  return pids;
}

class RayEndToEndTest : public ::testing::Test {
 protected:
  // One head for the suite: `ray start` and its stop cost ~10 s together.
  static void SetUpTestSuite() {
    // Ray reads the auth mode once, when its library is loaded (the next line loads it).
    ::setenv("RAY_AUTH_MODE", "token", 1);
    exec::RayHeadOptions o;
    o.num_cpus = 2;
    o.env = exec::RayWorkerEnvironment(1);  // what RayBackend gives a head it starts
    auto head = exec::LocalRayHead::Start(o);
    ASSERT_TRUE(head.ok()) << head.status().ToString();
    head_ = std::move(head).value().release();
    // The runs below connect with --ray-address: the driver takes the head's token from
    // the environment, as a user's driver on a token-auth cluster does.
    for (const auto& [k, v] : head_->AuthEnvironment()) ::setenv(k.c_str(), v.c_str(), 1);
  }
  static void TearDownTestSuite() {
    if (head_ == nullptr) return;
    std::string dir = head_->temp_dir();
    Status st = head_->Stop();
    EXPECT_TRUE(st.ok()) << st.ToString();
    EXPECT_TRUE(head_->LiveProcesses().empty());
    EXPECT_TRUE(CerebroRayProcesses("").empty()) << "a Ray process outlived its head";
    delete head_;  // owned by the suite (gtest's static hooks cannot hold a unique_ptr)
    head_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(head_, nullptr) << "no Ray head"; }

  spec::ExperimentSpec RaySpec(const std::string& text) {
    spec::ExperimentSpec s = ParseOrDie(text);
    s.run.backend = spec::BackendKind::kRay;
    s.run.ray_address = head_->address();
    return s;
  }

  static exec::LocalRayHead* head_;
};

exec::LocalRayHead* RayEndToEndTest::head_ = nullptr;

TEST_F(RayEndToEndTest, EveryModelGetsEveryUnitOnceAndFixedOrderMatchesLocalBitwise) {
  TempDir tmp;
  const std::string text = FixedOrderGrid(tmp);
  auto local = RunExperiment(ParseOrDie(text), Options(tmp.Join("local")));
  ASSERT_TRUE(local.ok()) << local.status().ToString();
  auto ray = RunExperiment(RaySpec(text), Options(tmp.Join("ray")));
  ASSERT_TRUE(ray.ok()) << ray.status().ToString();

  ASSERT_EQ(ray->models.size(), 4u);
  for (const auto& m : ray->models) {
    EXPECT_EQ(m.status, ModelStatus::kCompleted) << m.failure;
    EXPECT_EQ(m.train_units, 2 * 2);
    EXPECT_EQ(m.eval_units, 2 * 2);
  }
  ExpectEveryUnitExactlyOnce(ray->run_dir, 4, 2, 2);
  ExpectSameAsLocal(*ray, *local);
}

// A GCS call from a client of Ray's own (its Python GcsClient), with `env` (the auth
// variables) in front: "ACCEPTED" or "REFUSED <type>: <message>". HOME is a fresh
// directory so no ~/.ray/auth_token is picked up.
std::string ProbeGcs(const std::string& address, const std::string& env) {
  TempDir home;
  std::string python = exec::DefaultRayCli();
  python = python.substr(0, python.find_last_of('/') + 1) + "python";
  const std::string script =
      "import sys\n"
      "from ray._raylet import GcsClient\n"
      "try:\n"
      "    GcsClient(address=sys.argv[1]).internal_kv_keys(b'', None, timeout=10)\n"
      "    print('ACCEPTED')\n"
      "except Exception as e:\n"
      "    print('REFUSED', type(e).__name__ + ':', str(e)[:200])\n";
  std::ofstream(home.Join("probe.py")) << script;
  const std::string cmd = "env -u RAY_AUTH_TOKEN -u RAY_AUTH_TOKEN_PATH HOME=" + home.path() +
                          " " + env + " " + python + " " + home.Join("probe.py") + " " +
                          address + " 2>/dev/null";
  std::string out;
  if (FILE* f = ::popen(cmd.c_str(), "r")) {
    char buf[512];
    while (std::fgets(buf, sizeof(buf), f) != nullptr) out += buf;
    ::pclose(f);
  }
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// Local addresses of the TCP sockets the given processes listen on ("127.0.0.1:PORT",
// "0.0.0.0:PORT", "[::]:PORT" ...), from /proc/net/tcp{,6} and their fds.
std::set<std::string> ListeningAddresses(const std::vector<int>& pids) {
  std::set<std::string> inodes;
  for (int pid : pids) {
    std::string dir = "/proc/" + std::to_string(pid) + "/fd";
    if (DIR* d = ::opendir(dir.c_str())) {
      while (dirent* e = ::readdir(d)) {
        char target[256];
        ssize_t n = ::readlink((dir + "/" + e->d_name).c_str(), target, sizeof(target) - 1);
        if (n <= 0) continue;
        std::string t(target, static_cast<size_t>(n));
        if (t.rfind("socket:[", 0) == 0) inodes.insert(t.substr(8, t.size() - 9));
      }
      ::closedir(d);
    }
  }
  std::set<std::string> addresses;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::istringstream lines(testing::ReadFileOrEmpty(table));
    std::string line;
    std::getline(lines, line);  // header
    while (std::getline(lines, line)) {
      std::istringstream f(line);
      std::string sl, local, remote, state, queues, timer, retr, uid, timeout, inode;
      f >> sl >> local >> remote >> state >> queues >> timer >> retr >> uid >> timeout >> inode;
      if (state != "0A" || !inodes.count(inode)) continue;  // 0A: LISTEN
      std::string hex = local.substr(0, local.find(':'));
      const int port = std::stoi(local.substr(local.find(':') + 1), nullptr, 16);
      // An IPv4-mapped IPv6 address (::ffff:a.b.c.d; 32-bit words in host order).
      if (hex.size() == 32 && hex.rfind("0000000000000000FFFF0000", 0) == 0) hex = hex.substr(24);
      std::string host;
      if (hex.size() == 8) {  // IPv4, little-endian
        const unsigned long a = std::stoul(hex, nullptr, 16);
        host = std::to_string(a & 255) + "." + std::to_string((a >> 8) & 255) + "." +
               std::to_string((a >> 16) & 255) + "." + std::to_string(a >> 24);
      } else {
        host = hex == std::string(32, '0') ? "[::]" : "[" + hex + "]";
      }
      addresses.insert(host + ":" + std::to_string(port));
    }
  }
  return addresses;
}

// Issue 13: nobody but the user running Cerebro gets into its private head. A client
// without the token (or with a wrong one) is refused; the same client with the token is
// let in (so the refusals are about the token); the token file is the user's alone; and
// the head listens on loopback only. The runs in this suite prove a driver with the
// token works.
TEST_F(RayEndToEndTest, TheHeadRefusesClientsWithoutItsTokenAndListensOnLoopbackOnly) {
  struct stat file{}, dir{};
  ASSERT_EQ(::stat(head_->token_path().c_str(), &file), 0) << head_->token_path();
  ASSERT_EQ(::stat(head_->temp_dir().c_str(), &dir), 0);
  EXPECT_EQ(file.st_mode & 0777, 0600u);
  EXPECT_EQ(dir.st_mode & 0777, 0700u);
  const std::string token = testing::ReadFileOrEmpty(head_->token_path());
  EXPECT_EQ(token.size(), 64u);
  EXPECT_EQ(token.find_first_not_of("0123456789abcdef"), std::string::npos);

  const std::string none = ProbeGcs(head_->address(), "RAY_AUTH_MODE=disabled");
  EXPECT_EQ(none.rfind("REFUSED AuthenticationError", 0), 0u) << none;
  EXPECT_NE(none.find("InvalidAuthToken"), std::string::npos) << none;
  const std::string wrong =
      ProbeGcs(head_->address(), "RAY_AUTH_MODE=token RAY_AUTH_TOKEN=" + std::string(64, 'a'));
  EXPECT_EQ(wrong.rfind("REFUSED AuthenticationError", 0), 0u) << wrong;
  EXPECT_EQ(ProbeGcs(head_->address(),
                     "RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=" + head_->token_path()),
            "ACCEPTED");

  const std::set<std::string> listening = ListeningAddresses(head_->LiveProcesses());
  EXPECT_TRUE(listening.count(head_->address())) << "the GCS port is not listening";
  for (const std::string& a : listening) {
    EXPECT_EQ(a.rfind("127.0.0.1:", 0), 0u) << "the head listens beyond loopback: " << a;
  }
}

TEST_F(RayEndToEndTest, KilledActorIsReplacedAndNoCompletedUnitIsLost) {
  TempDir tmp;
  std::string csv = testing::WriteBlobsCsv(tmp.path(), 600);
  RunOptions o = Options(tmp.Join("run"));
  int completions = 0;
  int victim_pid = -1;
  testing::UnitObserver hook([&](const driver::RunView& run, const store::UnitDone& u) {
    if (++completions != 3 || victim_pid > 0) return;
    // Kill the actor that did not just finish: it is (very likely) mid-unit.
    int victim = 1 - u.worker;
    victim_pid = dynamic_cast<const exec::RayBackend*>(run.backend)->worker_pid(victim);
    ASSERT_GT(victim_pid, 0);
    ::kill(victim_pid, SIGKILL);
  });
  o.observers.push_back(&hook);
  auto r = RunExperiment(RaySpec(testing::SmallSpec(csv, 2, 2)), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(victim_pid, 0);
  for (const auto& m : r->models) EXPECT_EQ(m.status, ModelStatus::kCompleted) << m.failure;
  ExpectEveryUnitExactlyOnce(r->run_dir, 4, 2, 2);
  int lost = 0;
  for (const auto& j : ReadJsonLines(r->run_dir + "/journal.jsonl")) {
    if (j["type"] != "worker_lost") continue;
    ++lost;
    EXPECT_NE(j["error"].get<std::string>().find("lost"), std::string::npos) << j.dump();
  }
  EXPECT_EQ(lost, 1);
}

TEST_F(RayEndToEndTest, WithoutAnAddressTheRunStartsAndStopsItsOwnHead) {
  TempDir tmp;
  std::string csv = testing::WriteBlobsCsv(tmp.path(), 300);
  spec::ExperimentSpec s = ParseOrDie(testing::SmallSpec(csv, 1, 2));
  s.run.backend = spec::BackendKind::kRay;  // no ray_address
  std::set<int> before = CerebroRayProcesses(head_->temp_dir());
  auto r = RunExperiment(s, Options(tmp.Join("run")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectEveryUnitExactlyOnce(r->run_dir, 4, 1, 2);
  EXPECT_EQ(CerebroRayProcesses(head_->temp_dir()), before) << "the run's own head left processes";
}

// Issue 13: a real multi-node cluster on this host, as Ray's own multi-node tests make
// one: a head (127.0.0.2, 2 CPUs) and a worker node (127.0.0.3, 1 CPU), each its own
// raylet, object store and temp dir, joined with `ray start --address` and the head's
// token. The workers' placement group spreads the two actors over the two nodes; the
// head's second CPU is the room a worker needs there when the worker node goes down.
// Ray notices a dead node by failed health checks: made quick here (1 s, 2 misses).
class RayMultiNodeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ::setenv("RAY_AUTH_MODE", "token", 1);
    exec::RayHeadOptions o;
    o.env = exec::RayWorkerEnvironment(1);
    o.env["RAY_health_check_period_ms"] = "1000";
    o.env["RAY_health_check_timeout_ms"] = "1000";
    o.env["RAY_health_check_failure_threshold"] = "2";
    o.node_ip = "127.0.0.2";
    o.num_cpus = 2;
    auto head = exec::LocalRayHead::Start(o);
    ASSERT_TRUE(head.ok()) << head.status().ToString();
    head_ = std::move(head).value().release();
    o.node_ip = "127.0.0.3";
    o.num_cpus = 1;
    o.join_address = head_->address();
    o.join_token_path = head_->token_path();
    auto node = exec::LocalRayHead::Start(o);
    ASSERT_TRUE(node.ok()) << node.status().ToString();
    node_ = std::move(node).value().release();
    for (const auto& [k, v] : head_->AuthEnvironment()) ::setenv(k.c_str(), v.c_str(), 1);
  }
  static void TearDownTestSuite() {
    for (exec::LocalRayHead** n : {&node_, &head_}) {
      if (*n == nullptr) continue;
      Status st = (*n)->Stop();
      EXPECT_TRUE(st.ok()) << st.ToString();
      delete *n;  // owned by the suite, as in RayEndToEndTest
      *n = nullptr;
    }
    EXPECT_TRUE(CerebroRayProcesses("").empty()) << "a Ray process outlived its node";
  }
  void SetUp() override { ASSERT_TRUE(head_ != nullptr && node_ != nullptr) << "no cluster"; }

  spec::ExperimentSpec RaySpec(const std::string& text) {
    spec::ExperimentSpec s = ParseOrDie(text);
    s.run.backend = spec::BackendKind::kRay;
    s.run.ray_address = head_->address();
    return s;
  }
  // Waits until no CPU of the cluster is held. The workers' placement group is SPREAD, a
  // soft strategy, and Ray returns a finished run's bundles asynchronously: a run started
  // while the worker node's CPU is still held gets both workers on the head (which has
  // the CPUs for two), as Ray allows. Asks `ray status` (the suite's token is in the
  // environment) until it shows all 3 CPUs free.
  static void AwaitIdleCluster() {
    const std::string cmd =
        exec::DefaultRayCli() + " status --address " + head_->address() + " 2>/dev/null";
    std::string out;
    for (int attempt = 0; attempt < 60; ++attempt) {
      out.clear();
      if (FILE* p = ::popen(cmd.c_str(), "r")) {
        char buf[4096];
        size_t n;
        while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
        ::pclose(p);
      }
      if (out.find(" 0.0/3.0 CPU") != std::string::npos) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    FAIL() << "the cluster's CPUs stayed in use; `ray status` says:\n" << out;
  }
  // Which node a process belongs to: 0 head, 1 worker node, -1 neither.
  static int NodeOf(int pid) {
    auto has = [pid](const exec::LocalRayHead* n) {
      std::vector<int> p = n->LiveProcesses();
      return std::find(p.begin(), p.end(), pid) != p.end();
    };
    return has(head_) ? 0 : has(node_) ? 1 : -1;
  }

  static exec::LocalRayHead* head_;
  static exec::LocalRayHead* node_;
};

exec::LocalRayHead* RayMultiNodeTest::head_ = nullptr;
exec::LocalRayHead* RayMultiNodeTest::node_ = nullptr;

// Both ways a state can move between the nodes (exec/ray/ray_backend.h): by file (the
// default: the actor writes it to the run directory, the next actor reads it, the driver
// gets only sizes and hashes) and through Ray's object stores (CEREBRO_RAY_STATES=
// object_store: actor to actor as an ObjectRef, the driver fetching a copy).
TEST_F(RayMultiNodeTest, TwoNodesGiveTheSameModelsAndMetricsAsOne) {
  TempDir tmp;
  const std::string text = WithBigStates(FixedOrderGrid(tmp));
  auto local = RunExperiment(ParseOrDie(text), Options(tmp.Join("local")));
  ASSERT_TRUE(local.ok()) << local.status().ToString();
  for (const std::string mode : {"file", "object_store"}) {
    SCOPED_TRACE("CEREBRO_RAY_STATES=" + mode);
    ::setenv("CEREBRO_RAY_STATES", mode.c_str(), 1);
    RunOptions o = Options(tmp.Join("ray-" + mode));
    std::set<int> nodes;
    testing::UnitObserver where([&](const driver::RunView& run, const store::UnitDone&) {
      auto* backend = dynamic_cast<const exec::RayBackend*>(run.backend);
      for (int w = 0; w < 2; ++w) nodes.insert(NodeOf(backend->worker_pid(w)));
    });
    o.observers.push_back(&where);
    AwaitIdleCluster();
    auto ray = RunExperiment(RaySpec(text), o);
    ::unsetenv("CEREBRO_RAY_STATES");
    ASSERT_TRUE(ray.ok()) << ray.status().ToString();
    // One actor per node, each loading only its own partition; every model visits both
    // partitions, so its state crossed between the nodes each sub-epoch.
    EXPECT_EQ(nodes, (std::set<int>{0, 1}));
    size_t biggest = 0;
    for (const auto& [name, bytes] : Checkpoints(ray->run_dir)) biggest = std::max(biggest, bytes.size());
    EXPECT_GT(biggest, 100u * 1024) << "no state big enough to go through the object stores";
    // By file no state byte crosses the driver's connection to Ray; through the object
    // stores the driver fetches every new state once.
    if (mode == "file") {
      EXPECT_EQ(ray->timing.state_bytes_moved, 0u);
    } else {
      EXPECT_GT(ray->timing.state_bytes_moved, 4u * biggest);
    }
    ExpectEveryUnitExactlyOnce(ray->run_dir, 4, 2, 2);
    // The one-node run equals the local one to the bit (RayEndToEndTest); so must this.
    ExpectSameAsLocal(*ray, *local);
  }
}

// Last in the suite: the worker node stays down.
TEST_F(RayMultiNodeTest, KillingTheWorkerNodeMidRunLosesNothingCompleted) {
  TempDir tmp;
  std::string csv = testing::WriteBlobsCsv(tmp.path(), 600);
  RunOptions o = Options(tmp.Join("run"));
  int completions = 0;
  bool killed = false;
  std::set<int> after;  // nodes the actors run on after the kill
  testing::UnitObserver hook([&](const driver::RunView& run, const store::UnitDone&) {
    auto* backend = dynamic_cast<const exec::RayBackend*>(run.backend);
    ++completions;
    if (killed) {
      for (int w = 0; w < 2; ++w) after.insert(NodeOf(backend->worker_pid(w)));
      return;
    }
    if (completions != 3) return;
    node_->Kill();  // its raylet, its actor, its object store: all at once
    killed = true;
  });
  o.observers.push_back(&hook);
  AwaitIdleCluster();
  auto r = RunExperiment(RaySpec(WithBigStates(testing::SmallSpec(csv, 3, 2))), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(killed);
  for (const auto& m : r->models) EXPECT_EQ(m.status, ModelStatus::kCompleted) << m.failure;
  ExpectEveryUnitExactlyOnce(r->run_dir, 4, 3, 2);
  int lost = 0;
  for (const auto& j : ReadJsonLines(r->run_dir + "/journal.jsonl")) lost += j["type"] == "worker_lost";
  EXPECT_GE(lost, 1);
  // The replacement actor runs on the head, the only node left.
  EXPECT_TRUE(after.count(0));
  EXPECT_FALSE(after.count(1));
}

// design.md: the private Ray head dies with its driver. A `cerebro run --backend ray` (no
// address: it starts its own head) is SIGKILLed mid-run, so nothing of LocalRayHead::Stop
// runs; every process of its tree, recorded before the kill (the head's GCS and raylet,
// the actors' workers, the local workers), must be gone within 30 s. Only this run's own
// tree is checked, so another job on the machine using Ray cannot fail it.
TEST(RayDriverDeathTest, TheHeadAndWorkersOfASigkilledDriverDieWithIt) {
  TempDir tmp;
  const std::string csv = testing::WriteBlobsCsv(tmp.path(), 600);
  std::ofstream(tmp.Join("spec.yaml")) << testing::SmallSpec(csv, 50, 2, "  backend: ray\n");
  const std::string out = tmp.Join("run");
  const pid_t driver =
      testing::SpawnCerebro({"run", tmp.Join("spec.yaml"), "--out", out, "--quiet"});
  ASSERT_GT(driver, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (testing::CompleteLines(out + "/journal.jsonl") < 10 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const std::map<testing::ProcessId, std::string> tree = testing::DescendantsOf(driver);
  int status = 0;
  const bool mid_run = ::waitpid(driver, &status, WNOHANG) == 0;
  ::kill(driver, SIGKILL);
  ::waitpid(driver, &status, 0);
  ASSERT_TRUE(mid_run) << "the run ended before it was killed";
  std::string names;
  std::set<std::string> comms;
  for (const auto& [p, comm] : tree) {
    names += " " + comm + "(" + std::to_string(p.pid) + ")";
    comms.insert(comm);
  }
  EXPECT_TRUE(comms.count("raylet") && comms.count("gcs_server")) << "the run's tree:" << names;
  const auto bound = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!testing::StillRunning(tree).empty() && std::chrono::steady_clock::now() < bound) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::string left;
  for (const auto& p : testing::StillRunning(tree)) {
    left += " " + tree.at(p) + "(" + std::to_string(p.pid) + ")";
    ::kill(p.pid, SIGKILL);  // do not leave them to the next test
  }
  EXPECT_TRUE(left.empty()) << "outlived the driver by 30 s:" << left;
}

TEST(RayBackendTest, AnAddressWhereNothingListensIsAOneLineError) {
  exec::RayBackendOptions o;
  o.address = "127.0.0.1:1";  // privileged, never a Ray head
  exec::RayBackend backend(o);
  Status st = backend.Start({{"/nonexistent", 0, 0}});
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
  EXPECT_NE(st.message().find("127.0.0.1:1"), std::string::npos) << st.message();
  EXPECT_EQ(st.message().find('\n'), std::string::npos);
}

}  // namespace
}  // namespace cerebro
