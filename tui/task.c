/* task.c — the writer: changes run on a thread, one at a time.
 *
 * The changes a screen makes (save an edited cell, delete, bulk delete,
 * start an import, test a webhook, cancel a job) are the core's blocking
 * verbs, the very functions the commands call, each one transaction with its
 * audit row and outbox event. Rewriting each as a state machine would give
 * the TUI a second copy of every rule; instead they run here, on a thread
 * with connections of its own, in the order they were asked for. The loop
 * polls the read end of a pipe: when a task ends, its done callback runs on
 * the loop (the only place that touches views and the screen).
 *
 * A task whose server is gone fails with the core's error (it connects
 * with the configured timeout); its connections are dropped so the next task
 * connects anew.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/db.h"
#include "core/rds.h"
#include "core/xalloc.h"
#include "tui/tui.h"

struct task {
	struct task *next;
	task_run_fn run;
	task_done_fn done;
	void *arg;
	int rc;
	struct acme_err err;
};

struct tui_tasks {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct task *todo, *todo_tail;   /* waiting to run */
	struct task *done;               /* finished, for the loop */
	int pending;                     /* queued + running + finished not yet collected */
	bool stop;
	int pipe[2];
	struct task_env env;
};

PGconn *task_db(struct task_env *env, struct acme_err *err)
{
	if (!env->db)
		env->db = db_connect(env->cfg, err);
	return env->db;
}

redisContext *task_redis(struct task_env *env, struct acme_err *err)
{
	if (!env->rd)
		env->rd = rds_connect(env->cfg, 0, err);
	return env->rd;
}

static void *worker(void *arg)
{
	struct tui_tasks *tt = arg;
	pthread_mutex_lock(&tt->mu);
	for (;;) {
		while (!tt->todo && !tt->stop)
			pthread_cond_wait(&tt->cv, &tt->mu);
		if (tt->stop)
			break;
		struct task *k = tt->todo;
		tt->todo = k->next;
		if (!tt->todo)
			tt->todo_tail = NULL;
		pthread_mutex_unlock(&tt->mu);

		memset(&k->err, 0, sizeof k->err);
		k->rc = k->run(&tt->env, k->arg, &k->err);
		if (k->rc < 0 && (k->err.code == ACME_E_UNAVAILABLE || k->err.code == ACME_E_TEMPFAIL)) {
			if (tt->env.db) {
				db_close(tt->env.db);
				tt->env.db = NULL;
			}
			if (tt->env.rd) {
				rds_close(tt->env.rd);
				tt->env.rd = NULL;
			}
		}

		pthread_mutex_lock(&tt->mu);
		k->next = tt->done;
		tt->done = k;
		ssize_t w;
		do
			w = write(tt->pipe[1], "x", 1);
		while (w < 0 && errno == EINTR);
	}
	pthread_mutex_unlock(&tt->mu);
	return NULL;
}

/* app.c: start and stop the writer, its fd, collect finished tasks. */
int tasks_start(struct tui *t, struct acme_err *err);
void tasks_stop(struct tui *t);
int tasks_fd(const struct tui *t);
int tasks_collect(struct tui *t);

int tasks_start(struct tui *t, struct acme_err *err)
{
	struct tui_tasks *tt = xcalloc(1, sizeof *tt);
	if (pipe2(tt->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		free(tt);
		return acme_err_set(err, ACME_E_FAILURE, "tui: pipe: %s", strerror(errno));
	}
	pthread_mutex_init(&tt->mu, NULL);
	pthread_cond_init(&tt->cv, NULL);
	tt->env.cfg = t->cfg;
	if (pthread_create(&tt->thread, NULL, worker, tt) != 0) {
		close(tt->pipe[0]);
		close(tt->pipe[1]);
		free(tt);
		return acme_err_set(err, ACME_E_FAILURE, "tui: cannot start the writer thread");
	}
	t->tasks = tt;
	return 0;
}

void tui_task(struct tui *t, task_run_fn run, task_done_fn done, void *arg)
{
	struct tui_tasks *tt = t->tasks;
	struct task *k = xcalloc(1, sizeof *k);
	k->run = run;
	k->done = done;
	k->arg = arg;
	pthread_mutex_lock(&tt->mu);
	if (tt->todo_tail)
		tt->todo_tail->next = k;
	else
		tt->todo = k;
	tt->todo_tail = k;
	tt->pending++;
	pthread_cond_signal(&tt->cv);
	pthread_mutex_unlock(&tt->mu);
}

int tui_tasks_pending(const struct tui *t)
{
	struct tui_tasks *tt = t->tasks;
	pthread_mutex_lock(&tt->mu);
	int n = tt->pending;
	pthread_mutex_unlock(&tt->mu);
	return n;
}

int tasks_fd(const struct tui *t)
{
	return t->tasks->pipe[0];
}

int tasks_collect(struct tui *t)
{
	struct tui_tasks *tt = t->tasks;
	char buf[64];
	while (read(tt->pipe[0], buf, sizeof buf) > 0)
		;
	pthread_mutex_lock(&tt->mu);
	struct task *list = tt->done;
	tt->done = NULL;
	pthread_mutex_unlock(&tt->mu);
	/* oldest first */
	struct task *rev = NULL;
	while (list) {
		struct task *n = list->next;
		list->next = rev;
		rev = list;
		list = n;
	}
	int rd = RD_NONE;
	while (rev) {
		struct task *k = rev;
		rev = k->next;
		rd |= k->done ? k->done(t, k->arg, k->rc, &k->err) : RD_NONE;
		free(k);
		pthread_mutex_lock(&tt->mu);
		tt->pending--;
		pthread_mutex_unlock(&tt->mu);
	}
	return rd;
}

/* Stop the writer. A task still running is waited for (a change in flight
 * is finished, not torn: it is one transaction either way); tasks not
 * started are not run, and their done callbacks are told so. */
void tasks_stop(struct tui *t)
{
	struct tui_tasks *tt = t->tasks;
	if (!tt)
		return;
	pthread_mutex_lock(&tt->mu);
	tt->stop = true;
	pthread_cond_signal(&tt->cv);
	pthread_mutex_unlock(&tt->mu);
	pthread_join(tt->thread, NULL);
	/* finished ones report as usual; the rest are told they never ran (their
	 * done callbacks free what they own) */
	tasks_collect(t);
	for (struct task *k = tt->todo, *n; k; k = n) {
		n = k->next;
		struct acme_err err = { 0 };
		acme_err_set(&err, ACME_E_REFUSED, "not done: the screen was closed");
		if (k->done)
			k->done(t, k->arg, -1, &err);
		free(k);
	}
	if (tt->env.db)
		db_close(tt->env.db);
	if (tt->env.rd)
		rds_close(tt->env.rd);
	close(tt->pipe[0]);
	close(tt->pipe[1]);
	pthread_mutex_destroy(&tt->mu);
	pthread_cond_destroy(&tt->cv);
	free(tt);
	t->tasks = NULL;
}
