/* The trainer seam: a C-compatible API through which every backend (local worker
 * processes today, Ray actors later) runs units of training and evaluation.
 *
 * Why C: Ray's C++ API must be compiled with -D_GLIBCXX_USE_CXX11_ABI=0 and Debian's
 * LibTorch with =1, so nothing ABI-dependent (std::string, exceptions, STL containers)
 * may cross this line. Only opaque handles, fixed-width integers, doubles, byte
 * buffers and NUL-terminated UTF-8 strings do. Every call catches all C++ exceptions
 * (including c10::Error and std::bad_alloc) and turns them into a return code plus a
 * message copied into the caller's buffer (truncated to err_cap-1, always terminated).
 *
 * Threading: a CerebroWorker is used by one thread at a time. Different workers in one
 * process are independent, but the intended deployment is one worker per process.
 */
#ifndef CEREBRO_TRAIN_WORKER_API_H_
#define CEREBRO_TRAIN_WORKER_API_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 2: CEREBRO_ERR_OUT_OF_MEMORY and CEREBRO_ERR_NON_FINITE split from CEREBRO_ERR_MODEL.
 * 3: states by file (CerebroUnitRequest.state_path / out_path): the worker reads and
 *    writes checkpoints itself, so a state crosses no socket; CEREBRO_ERR_STATE_FILE. */
#define CEREBRO_WORKER_API_VERSION 3

/* Return codes. Values are stable; a caller that does not know a code should treat it
 * as CEREBRO_ERR_MODEL. */
enum {
  CEREBRO_OK = 0,
  CEREBRO_ERR_INVALID = 1,       /* bad model config / request: the model can never run */
  CEREBRO_ERR_MODEL = 2,         /* the model failed while running (an exception inside
                                    torch or the model): mark the model failed */
  CEREBRO_ERR_DATA = 3,          /* the partition could not be loaded */
  CEREBRO_ERR_STATE = 4,         /* the model state bytes could not be decoded */
  CEREBRO_ERR_OUT_OF_MEMORY = 5, /* memory ran out while running the unit or averaging
                                    (while building the model: CEREBRO_ERR_MODEL) */
  CEREBRO_ERR_NON_FINITE = 6,    /* the training loss became non-finite: the model diverged */
  CEREBRO_ERR_STATE_FILE = 7     /* a state file (state_path / out_path) could not be read,
                                    is not what the journal says, or could not be written:
                                    the run directory's storage is at fault, not the model */
};

typedef struct CerebroWorker CerebroWorker;

typedef struct {
  /* The model's hyperparameters as a flat JSON object, e.g.
   * {"model":"mlp","hidden":[1000,500],"activation":"relu","dropout":0.0,
   *  "optimizer":"adam","lr":0.001,"weight_decay":1e-4,"momentum":0.9,
   *  "batch_size":128,"loss":"cross_entropy"} */
  const char* model_config_json;
  int train;               /* 1: one training pass over the loaded train partition;
                              0: evaluate on the loaded validation partition */
  uint64_t init_seed;      /* weight initialisation, used when state_size == 0 */
  uint64_t unit_seed;      /* example order and dropout for this unit */
  const uint8_t* state;    /* model + optimizer state from the previous unit; */
  size_t state_size;       /* 0 = start from freshly initialised weights */
  /* Version 3. NULL or "" (what a zeroed request holds): as in version 2. */
  const char* state_path;  /* the input state is this file (state/state_size unused): it must
                              be state_file_size bytes whose Hash64 (common/rng.h) is
                              state_file_hash, else CEREBRO_ERR_STATE; size 0: unchecked.
                              The bytes are freed once decoded, before the pass. */
  uint64_t state_file_size;
  uint64_t state_file_hash;
  const char* out_path;    /* train: write the new state to this file atomically (a temp
                              file beside it, renamed over it) instead of returning its
                              bytes; result->state stays NULL, state_size and state_hash
                              describe the file. A failed write is CEREBRO_ERR_MODEL. */
  int out_durable;         /* with out_path: 1 = fsync the file and its directory before
                              returning (survives a power loss); 0 = page cache only */
} CerebroUnitRequest;

typedef struct {
  double loss_sum;         /* sum over examples of the per-example loss */
  double correct;          /* examples classified correctly (classification; else 0) */
  int64_t num_examples;
  double compute_seconds;  /* wall time of the pass itself */
  double state_seconds;    /* wall time spent decoding + encoding model state */
  uint8_t* state;          /* train: the new state (owned by the caller; release with */
  size_t state_size;       /* cerebro_buffer_free). eval: NULL / 0. With out_path: NULL,
                              and state_size is the written file's size. */
  uint64_t state_hash;     /* with out_path: Hash64 of the written file; else 0 */
  double file_seconds;     /* with state_path / out_path: reading, verifying, hashing and
                              writing the state file */
} CerebroUnitResult;

/* Creates a worker whose torch intra-op (and BLAS) thread count is intra_op_threads
 * (>= 1). Writes a warning into `warning` (may be empty) when the BLAS loaded by LibTorch
 * is the slow reference implementation. */
int cerebro_worker_create(int intra_op_threads, CerebroWorker** out, char* warning,
                          size_t warning_cap, char* err, size_t err_cap);
void cerebro_worker_destroy(CerebroWorker* worker);

/* Loads (and keeps in memory) partition `index` of kind "train" or "val" from the
 * partitioned store directory (see data/partition_store.h). A worker holds at most one
 * partition of each kind; loading again replaces it. */
int cerebro_worker_load_partition(CerebroWorker* worker, const char* store_dir,
                                  const char* kind, int index, char* err, size_t err_cap);

/* Runs one unit. On CEREBRO_OK fills *result; otherwise result->state is NULL and the
 * code is CEREBRO_ERR_INVALID, _DATA (no partition of the needed kind), _STATE,
 * _NON_FINITE, _OUT_OF_MEMORY or _MODEL. */
int cerebro_worker_run_unit(CerebroWorker* worker, const CerebroUnitRequest* request,
                            CerebroUnitResult* result, char* err, size_t err_cap);

/* Checks a model config (family known, fields valid) without data: CEREBRO_OK or
 * CEREBRO_ERR_INVALID with a one-line message naming the field. */
int cerebro_validate_model_config(const char* model_config_json, char* err, size_t err_cap);

void cerebro_buffer_free(uint8_t* buffer);

/* Averages n >= 1 states of the model `model_config_json` on data of shape
 * feature_shape[0..feature_rank) with num_outputs outputs (classes, or 1 for regression):
 * weights and optimizer moments element-wise. On CEREBRO_OK *out_state (release with
 * cerebro_buffer_free) holds the result; otherwise CEREBRO_ERR_INVALID, _STATE (a state
 * does not decode into the model), _OUT_OF_MEMORY or _MODEL. Used by the data-parallel
 * baseline. */
int cerebro_average_states(const char* model_config_json, const int64_t* feature_shape,
                           int feature_rank, int64_t num_outputs, const uint8_t* const* states,
                           const size_t* state_sizes, int n, uint8_t** out_state,
                           size_t* out_size, char* err, size_t err_cap);

/* Counts the trainable parameters (elements of the parameters that require gradients) of
 * the model `model_config_json` built for data of shape feature_shape[0..feature_rank)
 * with num_outputs outputs, into *out. CEREBRO_OK, or CEREBRO_ERR_INVALID (bad config or
 * arguments) / _MODEL (the net could not be built). Builds the net once (freshly
 * initialised weights, no data): the driver uses it for the num_parameters metric. */
int cerebro_model_num_parameters(const char* model_config_json, const int64_t* feature_shape,
                                 int feature_rank, int64_t num_outputs, int64_t* out, char* err,
                                 size_t err_cap);

/* When the OpenBLAS in this process did not recognise the CPU and runs generic kernels,
 * writes the OPENBLAS_CORETYPE value that selects the right ones (e.g. "SkylakeX") and
 * returns 1; otherwise returns 0. OpenBLAS reads the variable only at load time, so a
 * worker acts on it by re-executing itself (see exec/worker_main.cc). */
int cerebro_blas_suggested_coretype(char* buf, size_t cap);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif  /* CEREBRO_TRAIN_WORKER_API_H_ */
