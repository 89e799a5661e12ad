/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobqueue.h"
#include "util.h"

int job_new_from_dispatch(Dispatch *d, const char *reply_to, bool federated, ControlConnection *control, Job **ret) {
        Job *j = calloc(1, sizeof *j);
        if (!j)
                return -ENOMEM;
        if (reply_to && !(j->reply_to = strdup(reply_to))) {
                free(j);
                return -ENOMEM;
        }
        snprintf(j->caller, sizeof j->caller, "%s", d->caller);
        j->request = TAKE_PTR(d->request);
        j->command = TAKE_PTR(d->command);
        j->command_line = TAKE_PTR(d->command_line);
        j->control = control_connection_ref(control);
        j->federated = federated;
        *ret = j;
        return 0;
}

int job_new_command(const char *command, const char *command_line, Job **ret) {
        Job *j = calloc(1, sizeof *j);
        if (!j)
                return -ENOMEM;
        if (!(j->command = strdup(command)) || !(j->command_line = strdup(command_line))) {
                job_free(j);
                return -ENOMEM;
        }
        *ret = j;
        return 0;
}

void job_free(Job *j) {
        if (!j)
                return;
        nrpe_run_abort(j->run);
        request_free(j->request);
        free(j->reply_to);
        free(j->command);
        free(j->command_line);
        control_connection_unref(j->control);
        free(j);
}

static void list_remove(Job **head, Job **tail, Job *j) {
        if (j->prev)
                j->prev->next = j->next;
        else
                *head = j->next;
        if (j->next)
                j->next->prev = j->prev;
        else if (tail)
                *tail = j->prev;
        j->next = j->prev = NULL;
}

/* A job that never ran: its owner hears why, as the check's own UNKNOWN. */
static void job_fail(JobQueue *q, Job *j, int error, const char *output) {
        q->finished(j, error, 3, output, strlen(output), 0, q->userdata);
        job_free(j);
}

static void start_pending(JobQueue *q) {
        while (q->pending_head && q->n_running < q->max_running)
                jobqueue_submit(q, jobqueue_pop_pending(q));
}

static void job_finished(NrpeRun *run, int exitcode, const char *output, size_t size, uint64_t duration_usec,
                         void *userdata) {
        Job *j = userdata;
        JobQueue *q = j->queue;

        j->run = NULL; /* freed by the library after we return */
        list_remove(&q->running, NULL, j);
        q->n_running--;
        q->finished(j, 0, exitcode, output, size, duration_usec, q->userdata);
        job_free(j);
        start_pending(q);
}

void jobqueue_submit(JobQueue *q, Job *j) {
        int r;

        j->queue = q;
        if (q->n_running >= q->max_running) {
                if (q->max_pending > 0 && q->n_pending >= q->max_pending) {
                        job_fail(q, j, -EBUSY, "UNKNOWN: too many checks queued on this node");
                        return;
                }
                j->prev = q->pending_tail;
                if (q->pending_tail)
                        q->pending_tail->next = j;
                else
                        q->pending_head = j;
                q->pending_tail = j;
                q->n_pending++;
                return;
        }

        r = nrpe_run_start_as(q->event, j->command_line, q->user, q->timeout_usec, q->output_max, job_finished, j,
                              &j->run);
        if (r < 0) {
                char out[128];
                snprintf(out, sizeof out, "UNKNOWN: cannot start command: %s", strerror(-r));
                job_fail(q, j, r, out);
                return;
        }
        j->started_usec = now_usec(CLOCK_MONOTONIC);
        j->next = q->running;
        if (q->running)
                q->running->prev = j;
        q->running = j;
        q->n_running++;
}

Job *jobqueue_pop_pending(JobQueue *q) {
        Job *j = q->pending_head;
        if (!j)
                return NULL;
        list_remove(&q->pending_head, &q->pending_tail, j);
        q->n_pending--;
        return j;
}

size_t jobqueue_pids(const JobQueue *q, pid_t *ret, size_t n) {
        size_t i = 0;
        for (Job *j = q->running; j; j = j->next) {
                if (!j->run)
                        continue;
                if (i < n)
                        ret[i] = nrpe_run_pid(j->run);
                i++;
        }
        return i;
}

void jobqueue_clear(JobQueue *q) {
        while (q->running) {
                Job *j = q->running;
                list_remove(&q->running, NULL, j);
                job_free(j);
        }
        q->n_running = 0;
        for (Job *j; (j = jobqueue_pop_pending(q)); )
                job_free(j);
}
