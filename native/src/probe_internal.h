/*
 * probe_internal.h: what the keeper (probe.c), the caller (probe_caller.c) and the raw calls (probe_call.c)
 * share. Nothing here is exported.
 */
#ifndef FL_PROBE_INTERNAL_H
#define FL_PROBE_INTERNAL_H

#include "forklift_native.h"
#include "fl_sys.h"

/* How long one request may take before the keeper kills its caller (a hang is a bug; fail, never block). */
#define FL_PROBE_DEADLINE_NS (20LL * 1000000000LL)
/* After a SIGKILL sent on a deadline, how long to wait for the victim to be reaped before giving up. */
#define FL_PROBE_KILL_GRACE_NS (5LL * 1000000000LL)

#define FL_SLOT_PENDING 0  /* nobody has reported for this request yet */
#define FL_SLOT_REPORTED 1 /* the result fields are final (child_status may still be filled in) */

/*
 * One request's place in the MAP_SHARED results area. Written by whichever process learns the outcome
 * (the caller, an intermediate pid-namespace init, or the keeper); read by fl_probe_run after the keeper
 * is reaped. `state` is published with release order after the result fields.
 */
typedef struct fl_slot {
    fl_probe_result result;
    int32_t state; /* FL_SLOT_* */
    int32_t reserved;
} fl_slot;

/* Publishes a final result (the fields already written) for the readers in other processes. */
static inline void fl_slot_publish(fl_slot *slot)
{
    __atomic_store_n(&slot->state, FL_SLOT_REPORTED, __ATOMIC_RELEASE);
}

static inline int fl_slot_reported(fl_slot *slot)
{
    return __atomic_load_n(&slot->state, __ATOMIC_ACQUIRE) == FL_SLOT_REPORTED;
}

/* Records an outcome without a call result (setup failure, probe failure, killed caller) and publishes it. */
void fl_slot_report(fl_slot *slot, int32_t outcome, int32_t err, int32_t setup_step, int32_t signal);

/*
 * Waits for `pid` (or any child when pid == -1) with WNOHANG|WUNTRACED|__WALL, sleeping on SIGCHLD
 * (blocked in every probe process) in slices of at most 10 ms, until `deadline_ns` (CLOCK_MONOTONIC).
 * Returns the pid reaped or stopped, -ECHILD, or -ETIMEDOUT.
 */
long fl_wait_bounded(long pid, int *status, int64_t deadline_ns);

/*
 * Waits until the direct child `pid` has ended, resuming it (SIGCONT) whenever it stops, then reaps every
 * other child too. If the child died of a signal before anybody reported for `slot`, records
 * CALLER_KILLED. On the deadline, records PROBE_FAILED/ETIMEDOUT, kills it and whatever else remains.
 * match_parent_children: the reaped child whose pid is the call's result (a CLONE_PARENT child, which
 * the caller could not reap) gives the slot its child_status; only valid when the caller stayed in our
 * pid namespace.
 */
void fl_supervise(long pid, fl_slot *slot, int64_t deadline_ns, int match_parent_children);

/*
 * Unmaps every mapping inherited from the host except this library's, the stack, the [vdso] family and
 * [keep, keep + keep_len) (keeper_mm.c). After it, no code outside this library may run.
 */
void fl_keeper_shed_host_memory(const void *keep, size_t keep_len);

/* The throwaway caller: context steps, the call, the report; never returns. */
_Noreturn void fl_caller_main(const fl_probe_request *request, fl_slot *slot, int64_t deadline_ns);

/* The raw calls. In the created child each of them only does SYS_exit(0), touching neither stack nor TLS. */
long fl_call_clone3(void *args, uint64_t size);
long fl_call_clone(uint64_t flags, uint64_t newsp, uint64_t parent_tid, uint64_t child_tid, uint64_t tls);
long fl_call_fork(void);
long fl_call_vfork(void);

/* Every blockable signal (all but SIGKILL and SIGSTOP, which the kernel refuses to block anyway). */
#define FL_SIGSET_ALL (~0ULL)

#endif
