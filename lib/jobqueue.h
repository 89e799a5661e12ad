/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "control.h"
#include "message.h"
#include "nrpe.h"
#include "responder-core.h"
#include "sign.h"

/* The responder's checks: at most max_running run at once, the rest wait
 * in order of arrival. muster-responder and the bench's simulator share
 * this queue, so the bench measures the daemon's own code. */

typedef struct JobQueue JobQueue;

typedef struct Job {
        JobQueue *queue;
        struct Job *next, *prev;
        Request *request;
        char *reply_to;            /* NULL: no reply over the broker */
        bool federated;            /* came from another site through federation */
        char *command;
        char *command_line;
        ControlConnection *control; /* a local request: answered over the control socket */
        char caller[KEY_ID_MAX];   /* the key that verified the request, "psk" or "local" */
        void *userdata;            /* the owner's (the simulator's node) */
        NrpeRun *run;
        uint64_t started_usec;
} Job;

/* Called once per job submitted: error 0 when the check ran (exitcode,
 * output and duration are its own); -EBUSY when the queue was full, or the
 * error that kept the check from starting: output is then an "UNKNOWN: ..."
 * line and exitcode 3. The job is freed after the call returns. */
typedef void (*job_finished_t)(Job *j, int error, int exitcode, const char *output, size_t size,
                               uint64_t duration_usec, void *userdata);

struct JobQueue {
        sd_event *event;
        Job *running, *pending_head, *pending_tail;
        unsigned n_running, n_pending;

        /* Settings, which the owner may change between submissions. */
        unsigned max_running;
        unsigned max_pending;      /* 0: no limit */
        const NrpeUser *user;      /* NULL: run as this process */
        uint64_t timeout_usec;
        size_t output_max;
        job_finished_t finished;
        void *userdata;
};

/* A job for the command of a DISPATCH_RUN: takes request, command and
 * command line out of d. reply_to and control may be NULL. */
int job_new_from_dispatch(Dispatch *d, const char *reply_to, bool federated, ControlConnection *control, Job **ret);
/* A job with no request: a command line run for its own sake (the bench). */
int job_new_command(const char *command, const char *command_line, Job **ret);
void job_free(Job *j);

/* Start j now, or queue it when max_running are running. */
void jobqueue_submit(JobQueue *q, Job *j);
/* Take the oldest waiting job out of the queue; NULL when none waits. */
Job *jobqueue_pop_pending(JobQueue *q);
/* The process ids of the running checks, at most n; returns how many
 * there are in all (more than n: ret holds the first n). */
size_t jobqueue_pids(const JobQueue *q, pid_t *ret, size_t n);
/* Kill the running checks and free every job; finished is not called. */
void jobqueue_clear(JobQueue *q);
