/* tui.h — the ncurses front end (`acmectl tui`, DESIGN.md section 10).
 *
 * The shape, after tig and htop:
 *
 *   app.c     the one poll() loop: stdin, every pending PostgreSQL and Redis
 *             call (slots), the job subscription, the writer thread's pipe,
 *             and a timer. It owns the terminal, the tabs, the title and
 *             status lines, the help screen, the ":" command line and the
 *             modal widgets (a prompt, a form, a y/n question). Only the
 *             loop draws: handlers return what needs redrawing.
 *   keys.c    the key table: every key, the action it names, where it
 *             applies and its help text. The `?` screen and the key table of
 *             acmectl-tui(1) are both generated from it.
 *   ui.c      the one module that talks to ncurses: text measured with
 *             wcwidth, clipped to a width, in a handful of styles.
 *   slot.c    a read call with its own connection that reconnects by itself
 *             (PostgreSQL: struct pgcall; Redis: struct rdscall or a worker
 *             list), never blocking: the non-blocking core of issue 12.
 *   task.c    the writer: changes (edits, deletes, imports, tests, cancels)
 *             are the core's blocking functions, the same ones the commands
 *             call, so they run one at a time on a thread with its own
 *             connections; the result comes back through a pipe the loop
 *             polls. Nothing on the input path waits for the network.
 *   edit.c    a line editor (UTF-8, cursor, Tab completion hook).
 *   <view>.c  one file per tab, each a table of callbacks (struct view_ops).
 *
 * A view never calls libpq, hiredis or ncurses: it calls core/ (the _start /
 * _finish pairs through its slots, the blocking verbs through tasks) and the
 * ui_* drawing functions.
 */
#ifndef ACME_TUI_H
#define ACME_TUI_H
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <wchar.h>

#include "core/call.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/queue.h"
#include "core/session.h"
#include "core/workers.h"

struct tui;
struct view;

/* ---- redraw flags: what a handler changed ---- */
#define RD_NONE   0x0
#define RD_VIEW   0x1   /* the view's area */
#define RD_STATUS 0x2   /* the status line */
#define RD_TITLE  0x4   /* the title line */
#define RD_ALL    0x7

/* ---- actions: what a key means (keys.c maps keys to them) ---- */
#define TUI_ACTIONS(X)                                                        \
	X(NONE,        "none")                                                \
	X(QUIT,        "quit")                                                \
	X(HELP,        "help")                                                \
	X(COMMAND,     "command line")                                        \
	X(REDRAW,      "redraw")                                              \
	X(REFRESH,     "refresh")                                             \
	X(TAB_1,       "tab 1")                                               \
	X(TAB_2,       "tab 2")                                               \
	X(TAB_3,       "tab 3")                                               \
	X(TAB_4,       "tab 4")                                               \
	X(TAB_5,       "tab 5")                                               \
	X(TAB_NEXT,    "next tab")                                            \
	X(TAB_PREV,    "previous tab")                                        \
	X(UP,          "up")                                                  \
	X(DOWN,        "down")                                                \
	X(PAGE_UP,     "page up")                                             \
	X(PAGE_DOWN,   "page down")                                           \
	X(FIRST,       "first")                                               \
	X(LAST,        "last")                                                \
	X(LEFT,        "left")                                                \
	X(RIGHT,       "right")                                               \
	X(ENTER,       "open")                                                \
	X(ESCAPE,      "close")                                               \
	X(FILTER,      "filter")                                              \
	X(FILTER_FORM, "structured filter")                                   \
	X(SORT,        "sort")                                                \
	X(EDIT,        "edit")                                                \
	X(NEW,         "new")                                                 \
	X(ADD,         "add")                                                 \
	X(DELETE,      "delete")                                              \
	X(BULK_DELETE, "bulk delete")                                         \
	X(TOGGLE,      "enable/disable")                                      \
	X(TEST,        "test")                                                \
	X(REDELIVER,   "redeliver/retry")                                     \
	X(CANCEL,      "cancel")                                              \
	X(IMPORT,      "import")                                              \
	X(OPT_DELIM,   "delimiter")                                           \
	X(OPT_STRICT,  "strict")                                              \
	X(OPT_DRYRUN,  "dry run")

enum tui_action {
#define X(id, name) ACT_##id,
	TUI_ACTIONS(X)
#undef X
	ACT__COUNT
};
const char *tui_action_name(enum tui_action a);

/* Where a key applies: a bit per tab, or everywhere. */
enum tui_tab { TAB_PRODUCTS, TAB_IMPORT, TAB_WEBHOOKS, TAB_JOBS, TAB_WORKERS, TAB__COUNT };
#define IN_TAB(t) (1u << (t))
#define IN_ALL    0u

struct tui_key {
	int key;                  /* a character or an ncurses KEY_* code */
	const char *label;        /* as help shows it: "j", "Down", "Ctrl-L" */
	enum tui_action action;
	unsigned where;           /* IN_ALL or IN_TAB() bits */
	const char *help;         /* one line; NULL: shown on the line above's entry */
};
extern const struct tui_key tui_keys[];
extern const size_t tui_nkeys;
/* The action of key in tab (a tab's own entry wins over a global one). */
enum tui_action tui_key_action(int key, enum tui_tab tab);
/* The key table of acmectl-tui(1), in roff (`acmectl tui --keys=man`) or
 * plain text (`--keys=text`), to fp. */
void tui_keys_print(void *fp, bool roff);
/* Walk the table as help shows it: fn(section, NULL, NULL) opens a section
 * ("Everywhere", then each tab), then fn(section, labels, help) per key
 * (several keys for one action share a line: "Down, j"). */
void tui_keys_walk(void (*fn)(void *arg, const char *section, const char *labels,
			      const char *help), void *arg);

/* ---- ui.c: the one module that talks to ncurses ---- */
enum ui_style {
	UI_NORMAL, UI_DIM, UI_BOLD, UI_HEADER, UI_SELECTED, UI_SELECTED_CELL,
	UI_TITLE, UI_TITLE_PROD, UI_OK, UI_WARN, UI_ERROR, UI_INFO, UI_BAR,
	UI__COUNT
};
struct ui_size { int rows, cols; };
/* Columns text takes on screen (wcwidth; invalid bytes count 1 each). */
int ui_width(const char *s);
/* Draw s at (y, x) in at most width columns (clipped, wide characters never
 * split; the rest of the width padded with blanks when pad). Returns the
 * columns used. */
int ui_text(int y, int x, int width, const char *s, enum ui_style st, bool pad);
/* printf into (y, x, width). */
int ui_textf(int y, int x, int width, enum ui_style st, bool pad, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
/* A bar of width cells, frac (0..1) filled. */
void ui_bar(int y, int x, int width, double frac, enum ui_style st);
void ui_fill(int y, int x, int width, enum ui_style st);
void ui_cursor(int y, int x, bool show);
struct ui_size ui_size(void);
/* Right-align s in width columns. */
void ui_text_right(int y, int x, int width, const char *s, enum ui_style st);

/* ---- edit.c: a line editor ---- */
#define EDIT_MAX 4096
struct lineedit {
	char buf[EDIT_MAX];       /* UTF-8, NUL-terminated */
	size_t len, cur;          /* bytes */
};
enum edit_result { EDIT_NONE, EDIT_CHANGED, EDIT_ACCEPT, EDIT_CANCEL, EDIT_TAB, EDIT_MOVED,
		   EDIT_UP, EDIT_DOWN, EDIT_BACKTAB };
void edit_set(struct lineedit *e, const char *s);
/* One keystroke: a character (is_key false) or an ncurses KEY_* code. */
enum edit_result edit_key(struct lineedit *e, wint_t ch, bool is_key);
/* Draw at (y, x) in width columns, the cursor placed when focus. */
/* Complete the file name before the cursor (Tab in a path prompt): the
 * longest common prefix of the matches, a '/' after a directory; msg gets a
 * few of the candidates when there are several. Returns how many matched. */
int edit_complete_path(struct lineedit *e, char *msg, size_t msgsz);
void edit_draw(const struct lineedit *e, int y, int x, int width, enum ui_style st, bool focus);

/* ---- slot.c: a read call with a connection of its own ---- */
enum slot_state { SLOT_DOWN, SLOT_CONNECTING, SLOT_IDLE, SLOT_BUSY };
enum slot_kind { SLOT_PG, SLOT_REDIS };
struct slot;
/* The call ended (done or failed): call the matching _finish on the slot's
 * call, then slot_finished(). */
typedef int (*slot_done_fn)(struct tui *t, struct slot *s, void *arg);
struct slot {
	struct slot *next;        /* the app's list */
	struct tui *t;
	enum slot_kind kind;
	enum slot_state state;
	const char *name;
	slot_done_fn done;
	void *arg;
	long long retry_at;       /* monotonic ms: next connect attempt */
	int failures;
	/* PostgreSQL */
	PGconn *db;
	struct pgconnect pc;
	struct pgcall call;
	/* Redis */
	redisContext *rd;
	struct queue q;
	bool have_q;
	bool workers;             /* the running call is wc, not rc */
	struct rdscall rc;
	struct workers_call wc;
};
void slot_init(struct slot *s, struct tui *t, enum slot_kind kind, const char *name,
	       slot_done_fn done, void *arg);
/* Ready for a call: connected and idle. A slot that is down starts
 * connecting when its retry time has come (never blocks). */
bool slot_ready(struct slot *s);
/* After a successful _start on s->db / s->q / s->rd. */
void slot_started(struct slot *s);
/* A _start failed, or the _finish in the done callback returned: err may be
 * NULL (success). A lost connection (ACME_E_UNAVAILABLE) or a timeout drops
 * the connection and schedules a reconnect; the app's title shows it. */
void slot_finished(struct slot *s, const struct acme_err *err);
/* Abandon a running call (its _finish is called through done with
 * cancelled set). */
bool slot_busy(const struct slot *s);
void slot_release(struct slot *s);
/* Take s out of the loop's poll set (before its memory goes). */
void slot_unlink(struct tui *t, struct slot *s);

/* ---- task.c: the writer thread ---- */
struct task_env {
	const struct config *cfg;
	PGconn *db;               /* opened on first use by task_db() */
	redisContext *rd;
};
PGconn *task_db(struct task_env *env, struct acme_err *err);
redisContext *task_redis(struct task_env *env, struct acme_err *err);
/* run: on the writer thread (may block; must not touch the screen or the
 * views). done: on the loop afterwards, with run's return value and err.
 * Returns redraw flags. arg is the caller's until done returns. */
typedef int (*task_run_fn)(struct task_env *env, void *arg, struct acme_err *err);
typedef int (*task_done_fn)(struct tui *t, void *arg, int rc, const struct acme_err *err);
void tui_task(struct tui *t, task_run_fn run, task_done_fn done, void *arg);
/* Tasks queued or running. */
int tui_tasks_pending(const struct tui *t);

/* ---- views ---- */
struct view_ops {
	const char *name;         /* the tab's name */
	enum tui_tab tab;
	/* allocate state in v->priv and start loading; 0 / -1 */
	int (*open)(struct tui *t, struct view *v);
	void (*close)(struct tui *t, struct view *v);
	/* draw into rows [y, y + h) and cols [0, w) */
	void (*draw)(struct tui *t, struct view *v, int y, int h, int w);
	/* an action from the key table; returns RD_* flags */
	int (*key)(struct tui *t, struct view *v, enum tui_action a);
	/* raw input while the view captures it (an inline edit); NULL: never.
	 * capture() says whether it does now. */
	bool (*capture)(struct tui *t, struct view *v);
	int (*input)(struct tui *t, struct view *v, wint_t ch, bool is_key);
	/* called every turn of the loop (start due calls; now is monotonic ms);
	 * returns RD_* flags and may lower *wait_ms (the loop's next timeout). */
	int (*tick)(struct tui *t, struct view *v, long long now, long *wait_ms);
	/* ":filter TEXT" and ":sort FIELD[:desc]": 0, or -1 with a message set */
	int (*filter)(struct tui *t, struct view *v, const char *text);
	int (*sort)(struct tui *t, struct view *v, const char *spec);
	/* an unsaved edit: q asks first */
	bool (*dirty)(struct tui *t, struct view *v);
	/* fds of its own (a job subscription): add to pfd, return how many */
	int (*pollfds)(struct tui *t, struct view *v, struct pollfd *pfd, int max);
	int (*pollin)(struct tui *t, struct view *v, const struct pollfd *pfd, int n);
	/* what it shows, for the trace of ACME_TUI_TRACE (benchmarks); may be NULL */
	void (*describe)(struct tui *t, struct view *v, char *buf, size_t n);
	/* a mouse click at (row, col) of the view's area; NULL: ignored */
	int (*click)(struct tui *t, struct view *v, int row, int col);
};
struct view {
	const struct view_ops *ops;
	void *priv;
	int pfd_first, pfd_count; /* where its fds went in this turn's poll set */
};
extern const struct view_ops view_products, view_import, view_webhooks, view_jobs,
	view_workers;

/* ---- the app, as views see it ---- */
enum conn_state { CONN_UNKNOWN, CONN_UP, CONN_DOWN };
struct tui {
	struct session *s;        /* borrowed: the configuration (connections are the slots') */
	const struct config *cfg;
	bool production;
	bool color;
	long long now;            /* monotonic ms, this turn */
	long long started;        /* monotonic ms, at start */
	enum tui_tab tab;
	struct view views[TAB__COUNT];
	struct slot *slots;       /* every slot, for the poll set */
	enum conn_state db_state, rd_state;
	char db_error[256], rd_error[256];
	char status[512];
	enum ui_style status_style;
	long long status_until;   /* monotonic ms; 0: until replaced */
	bool quit;
	int redraw;
	/* the writer */
	struct tui_tasks *tasks;
	/* the log ring (messages from core) */
	struct log_ring *ring;
	/* the modal widget in front, if any */
	struct modal *modal;
	bool help;
	int help_top;
	/* ACME_TUI_TRACE=FILE: a line per key and per paint with the wall
	 * clock in ms, for tests/bench/tui.sh (NULL: off) */
	void *trace;
};

/* Whether hidden tabs may start their own first loads: not during the
 * first BACKGROUND_DELAY_MS, which belong to the visible tab's first paint
 * (every connection opened then competes with it for the CPU). */
#define BACKGROUND_DELAY_MS 400
bool tui_background_ok(const struct tui *t);

/* Status line: a message (info, ok or error style) until replaced or for
 * a while. */
void tui_status(struct tui *t, enum ui_style st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The actor of changes, for the audit log ("tui products update"). */
const char *tui_environment(const struct tui *t);

/* Modal widgets (one at a time; a second replaces the first).
 *
 * A prompt: one line at the bottom. on_change runs as the text changes
 * (filter as you type), on_accept on Enter (return 0 to close, -1 to keep it
 * open: set an error with tui_status), on_cancel on Esc, on_tab on Tab
 * (completion: it may edit e). */
struct prompt_ops {
	int (*on_change)(struct tui *t, void *arg, const char *text);
	int (*on_accept)(struct tui *t, void *arg, const char *text);
	int (*on_cancel)(struct tui *t, void *arg);
	int (*on_tab)(struct tui *t, void *arg, struct lineedit *e);
};
void tui_prompt(struct tui *t, const char *label, const char *initial,
		const struct prompt_ops *ops, void *arg);
/* A y/n question: on_answer(yes). Anything but y/Y is no. */
void tui_confirm(struct tui *t, const char *question,
		 int (*on_answer)(struct tui *t, void *arg, bool yes), void *arg);
/* A form: labelled fields edited in turn (Tab/Down next, Shift-Tab/Up
 * previous, Enter on the last field or Ctrl-S submits, Esc cancels).
 * on_submit gets the values: return 0 to close, -1 to keep the form open
 * with err's message shown in it (a validation error keeps the input), 1 to
 * keep it open while a task saves it: the task's done callback then calls
 * tui_form_close() or tui_form_error() with the form's id (from tui_form(),
 * or tui_form_current() inside on_submit), which do nothing when that form
 * is no longer in front. A field whose choices is set
 * ("yes|no") cycles with Space. */
#define FORM_MAX 8
struct form_field {
	const char *label;
	const char *value;        /* initial (copied) */
	const char *choices;      /* NULL, or "a|b|c" */
};
typedef int (*form_submit_fn)(struct tui *t, void *arg, char *const *values,
			      struct acme_err *err);
unsigned tui_form(struct tui *t, const char *title, const struct form_field *fields, size_t n,
		  form_submit_fn on_submit, void *arg);
/* The id of the form in front, 0 when none. */
unsigned tui_form_current(const struct tui *t);
/* The open form's error, shown under it (a validation error from a task). */
void tui_form_error(struct tui *t, unsigned id, const char *msg);
void tui_form_close(struct tui *t, unsigned id);
bool tui_modal_open(const struct tui *t);
/* Start an import of path from any tab (":import PATH"): the Import tab. */
int tui_import_start(struct tui *t, const char *path);
void tui_switch(struct tui *t, enum tui_tab tab);

/* Run the TUI on a loaded session until quit. Returns an exit status. */
struct tui_opts {
	enum tui_tab start_tab;
	bool no_mouse;
};
int tui_run(struct session *s, const struct tui_opts *o, struct acme_err *err);

/* Shared formatting for views. */
/* "1.2k", "3.4M" */
void fmt_count(char *buf, size_t n, long long v);
/* "12s ago", "3m ago" from an RFC 3339 time (or epoch ms when ms >= 0) */
void fmt_ago(char *buf, size_t n, const char *rfc3339, long long epoch_ms);

#endif
