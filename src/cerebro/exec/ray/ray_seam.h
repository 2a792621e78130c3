/* The Ray seam: a C-compatible API between the ABI-1 side of Cerebro (RayBackend, the
 * driver, LibTorch) and the ABI-0 Ray code in libcerebro_ray.so (Ray's C++ API must be
 * compiled with -D_GLIBCXX_USE_CXX11_ABI=0; see ../../train/worker_api.h for the same
 * discipline on the trainer side). Only opaque handles, fixed-width integers, doubles,
 * byte buffers and NUL-terminated strings cross; every entry point catches everything
 * and copies one line of error text into the caller's buffer (truncated, terminated).
 *
 * The ABI-1 side dlopen()s libcerebro_ray.so and calls cerebro_ray_seam() for the
 * function table, so nothing in Cerebro links libray_api.so at build time and the
 * local backend never loads Ray. The same library is what Ray's workers dlopen as the
 * code search path: it holds the actor (ray_actor.h) and the driver half (here).
 *
 * Model states live in Ray's object store and are named here by a state id (uint64,
 * 0 = none): the output of a training unit, or bytes put by the driver. A unit's
 * request names the state id it starts from; the actor resolves it directly from the
 * object store (actor to actor, never through the driver). Ids stay valid until
 * release_state() or shutdown().
 *
 * Threading: one CerebroRayDriver per process (Ray's C++ runtime is a process
 * singleton), used by one thread at a time.
 */
#ifndef CEREBRO_EXEC_RAY_RAY_SEAM_H_
#define CEREBRO_EXEC_RAY_RAY_SEAM_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CEREBRO_RAY_SEAM_VERSION 3

/* Return codes. */
enum {
  CEREBRO_RAY_OK = 0,
  CEREBRO_RAY_ERR = 1,          /* the call failed (connection, actor start, bad id) */
  CEREBRO_RAY_NOT_IN_FLIGHT = 2, /* wait_any: no unit is in flight */
  CEREBRO_RAY_TIMEOUT = 3        /* wait_any: no unit ended within timeout_ms */
};

/* How a unit ended. The failure class of a trainer error (retry, model failed, worker
 * lost) is the ABI-1 side's decision, from `code`, with the table the local backend
 * uses (exec/unit_outcome.h): this side only tells a returned error from a lost actor. */
enum {
  CEREBRO_RAY_UNIT_OK = 0,
  CEREBRO_RAY_UNIT_FAILED = 1,     /* the trainer returned the error code in `code` */
  CEREBRO_RAY_UNIT_WORKER_LOST = 2 /* the actor died or its result is lost */
};

typedef struct CerebroRayDriver CerebroRayDriver;

typedef struct {
  const char* store_dir; /* partitioned store on a filesystem every node sees */
  int train_partition;   /* -1: none (hand-off benchmarks) */
  int val_partition;     /* -1: none */
  int threads;           /* torch intra-op + BLAS threads; also the actor's CPU request */
} CerebroRayWorkerSetup;

typedef struct {
  int worker;
  const char* model_config_json;
  int train;
  uint64_t init_seed;
  uint64_t unit_seed;
  uint64_t state; /* 0: fresh model (or the state is the file state_path) */
  /* States by file (version 3), as CerebroUnitRequest's fields of train/worker_api.h: the
   * actor reads state_path (when not NULL or empty) instead of a state id, checked against
   * state_file_size / state_file_hash, and a training unit with out_path writes its new
   * state there (fsync'd when out_durable) and returns only its size and hash. */
  const char* state_path;
  uint64_t state_file_size;
  uint64_t state_file_hash;
  const char* out_path;
  int out_durable;
} CerebroRayUnit;

typedef struct {
  int worker;
  int kind;           /* CEREBRO_RAY_UNIT_* */
  int code;           /* the trainer's return code: CEREBRO_OK or a CEREBRO_ERR_* of
                         train/worker_api.h (WORKER_LOST: CEREBRO_OK) */
  double loss_sum;
  double correct;
  int64_t num_examples;
  double compute_seconds;
  double state_seconds;   /* actor-side state decode + encode (the trainer's figure) */
  double handoff_seconds; /* the unit's input state: from when it could move (the later
                             of its producer returning and this unit's submit) to this
                             actor holding it, wall clock */
  double fetch_seconds;   /* driver-side: ray::Get of the result, state bytes included */
  double submit_seconds;  /* driver-side: the Remote() call */
  double wall_seconds;    /* submit to completion, driver-side */
  uint64_t state;         /* kind OK and train: id of the new state (owned by the caller
                             until release_state); else 0 */
  const uint8_t* state_bytes; /* the new state's bytes, valid until the next wait_any, */
  size_t state_size;          /* release_state of `state`, or shutdown */
  double file_seconds;        /* actor-side reading and writing of state files */
  uint64_t written_size;      /* kind OK, train, out_path: the file written, its size */
  uint64_t written_hash;      /* and Hash64; else 0 */
} CerebroRayCompletion;

typedef struct {
  int version; /* CEREBRO_RAY_SEAM_VERSION */

  /* Connects this process to the cluster at `address` ("HOST:PORT") with
   * `code_search_path` (this library's path) for the workers. */
  int (*connect)(const char* address, const char* code_search_path, CerebroRayDriver** out,
                 char* err, size_t err_cap);

  /* Creates one actor per setup (CPU = threads each, actor i in bundle i of a SPREAD
   * placement group), all at once, and waits until each loaded its partitions. Writes the first start-up warning (e.g. slow BLAS) into
   * `warning` (may be empty). */
  int (*start_workers)(CerebroRayDriver* d, const CerebroRayWorkerSetup* setups, int n,
                       char* warning, size_t warning_cap, char* err, size_t err_cap);

  /* Kills worker `w`'s actor if alive and creates a fresh one (same bundle: wherever Ray
   * has placed it, on another node if w's died) that reloads the same partitions; waits
   * until it is ready. */
  int (*restart_worker)(CerebroRayDriver* d, int w, char* err, size_t err_cap);

  /* Puts `size` bytes into the object store as a state; writes its id. */
  int (*put_state)(CerebroRayDriver* d, const uint8_t* bytes, size_t size, uint64_t* out,
                   char* err, size_t err_cap);
  void (*release_state)(CerebroRayDriver* d, uint64_t state);

  /* Submits a unit as an actor task; returns at once. The worker must be idle. */
  int (*submit)(CerebroRayDriver* d, const CerebroRayUnit* unit, char* err, size_t err_cap);

  /* Blocks in ray::Wait until a submitted unit ends and fills *out, or returns
   * CEREBRO_RAY_TIMEOUT after timeout_ms (-1: no limit) with *out untouched. A dead
   * actor is a completion of kind WORKER_LOST with the reason in err. */
  int (*wait_any)(CerebroRayDriver* d, int timeout_ms, CerebroRayCompletion* out, char* err,
                  size_t err_cap);

  /* The OS pid of worker w's actor process, or -1 (tests kill it). */
  int (*worker_pid)(CerebroRayDriver* d, int w);

  /* Kills every actor, drops every state, disconnects and frees d. */
  void (*shutdown)(CerebroRayDriver* d);

  /* cerebro_blas_suggested_coretype() of the trainer linked into this library: lets the
   * driver give Ray workers the OPENBLAS_CORETYPE they cannot re-exec themselves for. */
  int (*blas_suggested_coretype)(char* buf, size_t cap);

  /* Benchmark: bounces a state of `size` bytes worker 0 -> worker 1 `iterations` times.
   * hop_ms[i]: from worker 0's task returning to worker 1's task holding the bytes;
   * chain_ms[i]: driver-observed submit of both tasks to worker 1's (small) reply. */
  int (*measure_handoff)(CerebroRayDriver* d, size_t size, int iterations, double* hop_ms,
                         double* chain_ms, char* err, size_t err_cap);
} CerebroRaySeam;

/* The only exported entry point the ABI-1 side looks up (dlsym). */
const CerebroRaySeam* cerebro_ray_seam(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* CEREBRO_EXEC_RAY_RAY_SEAM_H_ */
