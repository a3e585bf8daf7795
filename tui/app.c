/* app.c — the TUI's loop, terminal and chrome.
 *
 * One poll() loop drives everything: stdin, the writer thread's pipe, the
 * signal pipe, every slot's socket (a pending PostgreSQL query, a Redis
 * call, a connect in progress), the fds a view adds (a job subscription),
 * and a timer (at most TICK_MS, sooner when a deadline or a retry is due).
 * Nothing in the loop waits for the network: a keystroke is handled the turn
 * it arrives, whatever the servers do.
 *
 * Handlers return RD_* flags; only the loop draws (erase, title, tabs, the
 * view, the status line, the modal in front; ncurses sends only what
 * changed). Below MIN_COLS x MIN_ROWS the screen is one line saying the size
 * needed.
 *
 * The terminal is restored on every way out: q and :q (endwin), Ctrl-C,
 * SIGTERM and SIGHUP (a flag the loop sees through the signal pipe, then
 * endwin), a lost tty (stdin at EOF or error: the same), and a crash
 * (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT: the saved termios and the
 * terminfo strings that leave the alternate screen, show the cursor and stop
 * the mouse, written with async-signal-safe calls, then the signal again
 * with its default action so the core dump is not lost).
 */
#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/xalloc.h"
#include "tui/tui.h"

/* term.h (for tigetstr) defines capability names as macros; these clash */
#include <term.h>
#undef tab
#undef lines
#undef columns

#define MIN_COLS 80
#define MIN_ROWS 24
#define TICK_MS  250
#define MAX_PFD  64

void ui_init_styles(bool color);
int slot_pollfd(struct slot *s, struct pollfd *p, long *wait_ms);
int slot_step(struct slot *s);
int tasks_start(struct tui *t, struct acme_err *err);
void tasks_stop(struct tui *t);
int tasks_fd(const struct tui *t);
int tasks_collect(struct tui *t);

static const struct view_ops *const view_table[TAB__COUNT] = {
	&view_products, &view_import, &view_webhooks, &view_jobs, &view_workers,
};

/* ---- signals and the crash path ---- */

static int sig_pipe[2] = { -1, -1 };
static volatile sig_atomic_t sig_quit, sig_winch;
static struct termios saved_tio;
static bool have_tio;
static char restore_seq[256];
static size_t restore_len;

static void on_quit_signal(int sig)
{
	int saved = errno;
	sig_quit = sig;
	if (sig_pipe[1] >= 0) {
		ssize_t w = write(sig_pipe[1], "q", 1);
		(void)w;
	}
	errno = saved;
}

static void on_winch(int sig)
{
	int saved = errno;
	(void)sig;
	sig_winch = 1;
	if (sig_pipe[1] >= 0) {
		ssize_t w = write(sig_pipe[1], "w", 1);
		(void)w;
	}
	errno = saved;
}

static void on_crash(int sig)
{
	if (have_tio)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
	if (restore_len) {
		ssize_t w = write(STDOUT_FILENO, restore_seq, restore_len);
		(void)w;
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void add_seq(const char *cap)
{
	const char *s = tigetstr((char *)cap);
	if (!s || s == (char *)-1)
		return;
	size_t n = strlen(s);
	if (restore_len + n < sizeof restore_seq) {
		memcpy(restore_seq + restore_len, s, n);
		restore_len += n;
	}
}

static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_quit_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* ours, not ncurses's: poll() must wake up for a resize */
	sa.sa_handler = on_winch;
	sigaction(SIGWINCH, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_crash;
	sa.sa_flags = SA_RESETHAND;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGFPE, &sa, NULL);
	sigaction(SIGILL, &sa, NULL);
	sigaction(SIGABRT, &sa, NULL);
}

/* ---- log lines from core go to a ring, under a lock (the writer thread logs too) ---- */

static pthread_mutex_t ring_mu = PTHREAD_MUTEX_INITIALIZER;
static void ring_sink(void *arg, enum log_level level, const char *line)
{
	pthread_mutex_lock(&ring_mu);
	log_ring_sink(arg, level, line);
	pthread_mutex_unlock(&ring_mu);
}

/* ---- status line ---- */

void tui_status(struct tui *t, enum ui_style st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->status, sizeof t->status, fmt, ap);
	va_end(ap);
	t->status_style = st;
	t->status_until = st == UI_ERROR ? 0 : t->now + 8000;
	t->redraw |= RD_STATUS;
}

bool tui_background_ok(const struct tui *t)
{
	return t->now - t->started >= BACKGROUND_DELAY_MS;
}

const char *tui_environment(const struct tui *t)
{
	const char *env = config_get(t->cfg, CFG_ENV);
	return env ? env : ENV_DEVELOPMENT;
}

void fmt_count(char *buf, size_t n, long long v)
{
	if (v < 0)
		snprintf(buf, n, "?");
	else if (v < 10000)
		snprintf(buf, n, "%lld", v);
	else if (v < 1000000)
		snprintf(buf, n, "%.1fk", v / 1000.0);
	else
		snprintf(buf, n, "%.2fM", v / 1000000.0);
}

void fmt_ago(char *buf, size_t n, const char *rfc3339, long long epoch_ms)
{
	long long ms = epoch_ms;
	if (rfc3339 && *rfc3339) {
		struct tm tm;
		memset(&tm, 0, sizeof tm);
		const char *end = strptime(rfc3339, "%Y-%m-%dT%H:%M:%S", &tm);
		if (!end) {
			snprintf(buf, n, "%s", rfc3339);
			return;
		}
		ms = (long long)timegm(&tm) * 1000;
	}
	if (ms < 0) {
		snprintf(buf, n, "-");
		return;
	}
	long long d = (clock_wall_ms() - ms) / 1000;
	if (d < 0)
		d = 0;
	if (d < 60)
		snprintf(buf, n, "%llds ago", d);
	else if (d < 3600)
		snprintf(buf, n, "%lldm ago", d / 60);
	else if (d < 86400)
		snprintf(buf, n, "%lldh ago", d / 3600);
	else
		snprintf(buf, n, "%lldd ago", d / 86400);
}

/* ---- modal widgets ---- */

enum modal_kind { MODAL_PROMPT, MODAL_CONFIRM, MODAL_FORM };
struct modal {
	enum modal_kind kind;
	char label[256];
	struct lineedit edit;
	const struct prompt_ops *ops;
	int (*on_answer)(struct tui *t, void *arg, bool yes);
	void *arg;
	/* form */
	char title[128];
	size_t nfields, focus;
	struct form_field fields[FORM_MAX];
	struct lineedit values[FORM_MAX];
	form_submit_fn on_submit;
	unsigned form_id;
	char error[512];
};

static void modal_free(struct tui *t)
{
	free(t->modal);
	t->modal = NULL;
	curs_set(0);
	t->redraw |= RD_ALL;
}

bool tui_modal_open(const struct tui *t)
{
	return t->modal != NULL;
}

void tui_prompt(struct tui *t, const char *label, const char *initial,
		const struct prompt_ops *ops, void *arg)
{
	free(t->modal);
	struct modal *m = xcalloc(1, sizeof *m);
	m->kind = MODAL_PROMPT;
	snprintf(m->label, sizeof m->label, "%s", label);
	edit_set(&m->edit, initial);
	m->ops = ops;
	m->arg = arg;
	t->modal = m;
	t->redraw |= RD_ALL;
}

void tui_confirm(struct tui *t, const char *question,
		 int (*on_answer)(struct tui *t, void *arg, bool yes), void *arg)
{
	free(t->modal);
	struct modal *m = xcalloc(1, sizeof *m);
	m->kind = MODAL_CONFIRM;
	snprintf(m->label, sizeof m->label, "%s [y/N]", question);
	m->on_answer = on_answer;
	m->arg = arg;
	t->modal = m;
	t->redraw |= RD_ALL;
}

unsigned tui_form(struct tui *t, const char *title, const struct form_field *fields, size_t n,
		  form_submit_fn on_submit, void *arg)
{
	static unsigned form_seq;
	free(t->modal);
	struct modal *m = xcalloc(1, sizeof *m);
	m->kind = MODAL_FORM;
	snprintf(m->title, sizeof m->title, "%s", title);
	if (n > FORM_MAX)
		n = FORM_MAX;
	m->nfields = n;
	for (size_t i = 0; i < n; i++) {
		m->fields[i] = fields[i];
		edit_set(&m->values[i], fields[i].value);
	}
	m->on_submit = on_submit;
	m->arg = arg;
	m->form_id = ++form_seq ? form_seq : ++form_seq;
	t->modal = m;
	t->redraw |= RD_ALL;
	return m->form_id;
}

unsigned tui_form_current(const struct tui *t)
{
	return t->modal && t->modal->kind == MODAL_FORM ? t->modal->form_id : 0;
}

void tui_form_error(struct tui *t, unsigned id, const char *msg)
{
	if (id && tui_form_current(t) == id) {
		snprintf(t->modal->error, sizeof t->modal->error, "%s", msg);
		t->redraw |= RD_VIEW;
	}
}

void tui_form_close(struct tui *t, unsigned id)
{
	if (id && tui_form_current(t) == id)
		modal_free(t);
}

static void cycle_choice(struct modal *m)
{
	const char *choices = m->fields[m->focus].choices;
	struct lineedit *e = &m->values[m->focus];
	/* the choice after the current one, wrapping */
	const char *p = choices, *first = choices;
	size_t firstlen = strcspn(first, "|");
	while (*p) {
		size_t len = strcspn(p, "|");
		if (len == e->len && strncmp(p, e->buf, len) == 0) {
			const char *nx = p[len] ? p + len + 1 : first;
			char buf[64];
			size_t nl = strcspn(nx, "|");
			snprintf(buf, sizeof buf, "%.*s", (int)nl, nx);
			edit_set(e, buf);
			return;
		}
		p += len;
		if (*p)
			p++;
	}
	char buf[64];
	snprintf(buf, sizeof buf, "%.*s", (int)firstlen, first);
	edit_set(e, buf);
}

static int form_submit(struct tui *t, struct modal *m)
{
	char *values[FORM_MAX];
	for (size_t i = 0; i < m->nfields; i++)
		values[i] = m->values[i].buf;
	struct acme_err err = { 0 };
	m->error[0] = '\0';
	int rc = m->on_submit(t, m->arg, values, &err);
	if (rc < 0) {
		if (t->modal == m)
			snprintf(m->error, sizeof m->error, "%s", err.msg);
		return RD_ALL;
	}
	if (rc > 0) {
		/* a task is saving it: it closes the form or shows its error */
		if (t->modal == m)
			snprintf(m->error, sizeof m->error, "saving...");
		return RD_ALL;
	}
	if (t->modal == m)
		modal_free(t);
	return RD_ALL;
}

static int modal_input(struct tui *t, wint_t ch, bool is_key)
{
	struct modal *m = t->modal;
	if (m->kind == MODAL_CONFIRM) {
		bool yes = !is_key && (ch == 'y' || ch == 'Y');
		int (*fn)(struct tui *, void *, bool) = m->on_answer;
		void *arg = m->arg;
		modal_free(t);
		return (fn ? fn(t, arg, yes) : 0) | RD_ALL;
	}
	if (m->kind == MODAL_FORM) {
		struct form_field *f = &m->fields[m->focus];
		if (!is_key && ch == 19)        /* Ctrl-S */
			return form_submit(t, m);
		if (f->choices && !is_key && ch == ' ') {
			cycle_choice(m);
			return RD_ALL;
		}
		if (f->choices && !is_key && ch != '\t' && ch != '\r' && ch != '\n' && ch != 27)
			return RD_NONE;
		switch (edit_key(&m->values[m->focus], ch, is_key)) {
		case EDIT_CANCEL:
			modal_free(t);
			tui_status(t, UI_INFO, "cancelled");
			return RD_ALL;
		case EDIT_ACCEPT:
			if (m->focus + 1 < m->nfields) {
				m->focus++;
				return RD_ALL;
			}
			return form_submit(t, m);
		case EDIT_TAB: case EDIT_DOWN:
			m->focus = (m->focus + 1) % m->nfields;
			return RD_ALL;
		case EDIT_BACKTAB: case EDIT_UP:
			m->focus = (m->focus + m->nfields - 1) % m->nfields;
			return RD_ALL;
		default:
			return RD_ALL;
		}
	}
	/* a prompt */
	const struct prompt_ops *ops = m->ops;
	void *arg = m->arg;
	enum edit_result r = edit_key(&m->edit, ch, is_key);
	switch (r) {
	case EDIT_CANCEL:
		modal_free(t);
		return (ops && ops->on_cancel ? ops->on_cancel(t, arg) : 0) | RD_ALL;
	case EDIT_ACCEPT: {
		char text[EDIT_MAX];
		memcpy(text, m->edit.buf, m->edit.len + 1);
		int rd = RD_ALL;
		if (ops && ops->on_accept) {
			int rc = ops->on_accept(t, arg, text);
			if (rc < 0)
				return RD_ALL;     /* stays open */
			rd |= rc;
		}
		if (t->modal == m)
			modal_free(t);
		return rd;
	}
	case EDIT_CHANGED:
		if (ops && ops->on_change)
			return ops->on_change(t, arg, m->edit.buf) | RD_STATUS;
		return RD_STATUS;
	case EDIT_TAB:
		if (ops && ops->on_tab)
			return ops->on_tab(t, arg, &m->edit) | RD_STATUS;
		return RD_NONE;
	default:
		return RD_STATUS;
	}
}

static void draw_modal(struct tui *t, int rows, int cols)
{
	struct modal *m = t->modal;
	if (m->kind == MODAL_PROMPT) {
		int lw = ui_text(rows - 1, 0, cols, m->label, UI_BOLD, false);
		edit_draw(&m->edit, rows - 1, lw, cols - lw, UI_NORMAL, true);
		return;
	}
	if (m->kind == MODAL_CONFIRM) {
		ui_text(rows - 1, 0, cols, m->label, UI_WARN, true);
		curs_set(0);
		return;
	}
	/* a form: a box in the middle */
	int w = cols - 10 < 76 ? cols - 10 : 76;
	int h = (int)m->nfields + 6;
	int y0 = (rows - h) / 2, x0 = (cols - w) / 2;
	for (int y = y0; y < y0 + h; y++)
		ui_fill(y, x0, w, UI_SELECTED);
	ui_text(y0, x0 + 2, w - 4, m->title, UI_SELECTED, false);
	int lw = 14;
	for (size_t i = 0; i < m->nfields; i++) {
		int y = y0 + 2 + (int)i;
		ui_textf(y, x0 + 2, lw, UI_SELECTED, true, "%s:", m->fields[i].label);
		if (i != m->focus)
			ui_text(y, x0 + 2 + lw, w - lw - 4, m->values[i].buf, UI_NORMAL, true);
	}
	ui_text(y0 + h - 2, x0 + 2, w - 4,
		m->error[0] ? m->error
			    : "Tab next field  Enter next/save  Ctrl-S save  Space choose  Esc cancel",
		m->error[0] ? UI_ERROR : UI_SELECTED, true);
	/* the focused field last, so the cursor stays there */
	edit_draw(&m->values[m->focus], y0 + 2 + (int)m->focus, x0 + 2 + lw, w - lw - 4,
		  UI_NORMAL, !m->fields[m->focus].choices);
	if (m->fields[m->focus].choices)
		curs_set(0);
}

/* ---- the command line ---- */

static int cmdline_tab(struct tui *t, void *arg, struct lineedit *e)
{
	(void)arg;
	if (strncmp(e->buf, "import ", 7) != 0)
		return RD_NONE;
	/* complete the path after "import " */
	struct lineedit sub;
	edit_set(&sub, e->buf + 7);
	char msg[256] = "";
	edit_complete_path(&sub, msg, sizeof msg);
	char buf[EDIT_MAX];
	snprintf(buf, sizeof buf, "import %s", sub.buf);
	edit_set(e, buf);
	if (msg[0])
		tui_status(t, UI_INFO, "%s", msg);
	return RD_STATUS;
}

static int cmdline_accept(struct tui *t, void *arg, const char *text)
{
	(void)arg;
	while (*text == ' ')
		text++;
	struct view *v = &t->views[t->tab];
	const char *sp = strchr(text, ' ');
	size_t wl = sp ? (size_t)(sp - text) : strlen(text);
	const char *rest = sp ? sp + 1 : "";
	while (*rest == ' ')
		rest++;
#define IS(w) (wl == strlen(w) && strncmp(text, w, wl) == 0)
	if (wl == 0)
		return 0;
	if (IS("q") || IS("quit") || IS("q!")) {
		t->quit = true;
		return 0;
	}
	if (IS("import")) {
		if (!*rest) {
			tui_status(t, UI_ERROR, ":import needs a path: :import PATH");
			return 0;
		}
		modal_free(t);
		tui_import_start(t, rest);
		return RD_ALL;
	}
	if (IS("filter") || IS("sort")) {
		bool filter = IS("filter");
		int (*fn)(struct tui *, struct view *, const char *) =
			filter ? v->ops->filter : v->ops->sort;
		if (!fn) {
			tui_status(t, UI_ERROR, ":%.*s: the %s tab has no %s", (int)wl, text,
				   v->ops->name, filter ? "filter" : "sort");
			return 0;
		}
		modal_free(t);
		fn(t, v, rest);
		return RD_ALL;
	}
	if (wl == 1 && text[0] >= '1' && text[0] <= '5') {
		tui_switch(t, (enum tui_tab)(text[0] - '1'));
		return RD_ALL;
	}
#undef IS
	tui_status(t, UI_ERROR,
		   "unknown command \":%.*s\"; try :import PATH, :filter TEXT, :sort FIELD[:desc], :q",
		   (int)wl, text);
	return 0;
}

static const struct prompt_ops cmdline_ops = { NULL, cmdline_accept, NULL, cmdline_tab };

/* ---- tabs ---- */

void tui_switch(struct tui *t, enum tui_tab tab)
{
	if (tab >= TAB__COUNT)
		return;
	t->tab = tab;
	t->help = false;
	t->redraw |= RD_ALL;
}

static int quit_answer(struct tui *t, void *arg, bool yes)
{
	(void)arg;
	if (yes)
		t->quit = true;
	return RD_ALL;
}

static int request_quit(struct tui *t)
{
	for (int i = 0; i < TAB__COUNT; i++) {
		struct view *v = &t->views[i];
		if (v->ops->dirty && v->ops->dirty(t, v)) {
			tui_switch(t, (enum tui_tab)i);
			tui_confirm(t, "an edit is not saved; quit and lose it?", quit_answer, NULL);
			return RD_ALL;
		}
	}
	t->quit = true;
	return RD_NONE;
}

/* ---- help ---- */

struct help_draw {
	int y, top, line, rows, cols;
};

static void help_line(void *arg, const char *section, const char *labels, const char *help)
{
	struct help_draw *hd = arg;
	int idx = hd->line++;
	if (idx < hd->top)
		return;
	int y = hd->y + idx - hd->top;
	if (y >= hd->rows)
		return;
	if (!labels) {
		ui_text(y, 1, hd->cols - 2, section, UI_HEADER, false);
		return;
	}
	ui_text(y, 3, 18, labels, UI_BOLD, false);
	ui_text(y, 22, hd->cols - 23, help, UI_NORMAL, false);
}

static void draw_help(struct tui *t, int y, int rows, int cols)
{
	struct help_draw hd = { y, t->help_top, 0, rows, cols };
	tui_keys_walk(help_line, &hd);
}

static int help_lines(void)
{
	struct help_draw hd = { 0, 1 << 30, 0, 0, 0 };
	tui_keys_walk(help_line, &hd);
	return hd.line;
}

/* ---- drawing ---- */

static const char *conn_word(enum conn_state s)
{
	return s == CONN_UP ? "connected" : s == CONN_DOWN ? "reconnecting" : "connecting";
}

static void draw(struct tui *t)
{
	struct ui_size sz = ui_size();
	erase();
	if (sz.cols < MIN_COLS || sz.rows < MIN_ROWS) {
		char msg[128];
		snprintf(msg, sizeof msg, "acmectl tui needs at least %dx%d (this terminal is %dx%d)",
			 MIN_COLS, MIN_ROWS, sz.cols, sz.rows);
		ui_text(0, 0, sz.cols, msg, UI_WARN, false);
		curs_set(0);
		refresh();
		return;
	}
	/* title */
	enum ui_style ts = t->production ? UI_TITLE_PROD : UI_TITLE;
	char title[512];
	snprintf(title, sizeof title, " acmectl  %s%s  db: %s  redis: %s  %s",
		 t->production ? "PRODUCTION" : tui_environment(t),
		 "", conn_word(t->db_state), conn_word(t->rd_state),
		 tui_tasks_pending(t) ? "(working...)" : "");
	ui_text(0, 0, sz.cols, title, ts, true);
	/* tabs */
	int x = 0;
	for (int i = 0; i < TAB__COUNT; i++) {
		char tab[64];
		snprintf(tab, sizeof tab, " %d %s ", i + 1, view_table[i]->name);
		x += ui_text(1, x, sz.cols - x, tab, i == (int)t->tab ? UI_SELECTED : UI_NORMAL,
			     false);
		x += ui_text(1, x, sz.cols - x, " ", UI_NORMAL, false);
	}
	ui_text_right(1, x, sz.cols - x, "? help  : command  q quit ", UI_DIM);
	/* body */
	int body_y = 2, body_h = sz.rows - 3;
	curs_set(0);
	if (t->help) {
		draw_help(t, body_y, body_y + body_h, sz.cols);
	} else {
		struct view *v = &t->views[t->tab];
		v->ops->draw(t, v, body_y, body_h, sz.cols);
	}
	/* status */
	if (!t->modal || t->modal->kind == MODAL_FORM) {
		if (t->status[0])
			ui_text(sz.rows - 1, 0, sz.cols, t->status, t->status_style, true);
		else
			ui_text(sz.rows - 1, 0, sz.cols,
				t->help ? "j/k scroll  Esc or ? close" : "", UI_DIM, true);
	}
	if (t->modal)
		draw_modal(t, sz.rows, sz.cols);
	refresh();
}

/* ---- input ---- */

static int handle_mouse(struct tui *t)
{
	MEVENT me;
	if (getmouse(&me) != OK)
		return RD_NONE;
	struct view *v = &t->views[t->tab];
	if (me.bstate & BUTTON4_PRESSED)
		return v->ops->key(t, v, ACT_UP) | v->ops->key(t, v, ACT_UP) |
		       v->ops->key(t, v, ACT_UP);
#ifdef BUTTON5_PRESSED
	if (me.bstate & BUTTON5_PRESSED)
		return v->ops->key(t, v, ACT_DOWN) | v->ops->key(t, v, ACT_DOWN) |
		       v->ops->key(t, v, ACT_DOWN);
#endif
	if (me.bstate & (BUTTON1_CLICKED | BUTTON1_PRESSED)) {
		if (me.y == 1) {
			/* a click on the tab bar: which tab */
			int x = 0;
			for (int i = 0; i < TAB__COUNT; i++) {
				char tab[64];
				snprintf(tab, sizeof tab, " %d %s ", i + 1, view_table[i]->name);
				int w = ui_width(tab) + 1;
				if (me.x >= x && me.x < x + w) {
					tui_switch(t, (enum tui_tab)i);
					return RD_ALL;
				}
				x += w;
			}
			return RD_NONE;
		}
		if (v->ops->click)
			return v->ops->click(t, v, me.y - 2, me.x);
	}
	return RD_NONE;
}

static int handle_key(struct tui *t, wint_t ch, bool is_key)
{
	if (is_key && ch == KEY_RESIZE)
		return RD_ALL;
	if (is_key && ch == KEY_MOUSE)
		return handle_mouse(t);
	if (!is_key && ch == 3) {
		/* Ctrl-C: in raw mode a key, not a signal; it leaves at once */
		sig_quit = SIGINT;
		return RD_NONE;
	}
	if (t->modal)
		return modal_input(t, ch, is_key);
	struct view *v = &t->views[t->tab];
	if (!t->help && v->ops->capture && v->ops->capture(t, v))
		return v->ops->input(t, v, ch, is_key);
	int key = (int)ch;
	if (!is_key && ch == '\r')
		key = '\n';
	enum tui_action a = tui_key_action(key, t->tab);
	if (t->help) {
		int n = help_lines();
		switch (a) {
		case ACT_UP: if (t->help_top > 0) t->help_top--; return RD_VIEW;
		case ACT_DOWN: if (t->help_top < n - 1) t->help_top++; return RD_VIEW;
		case ACT_PAGE_DOWN: t->help_top = t->help_top + 10 < n ? t->help_top + 10 : n - 1; return RD_VIEW;
		case ACT_PAGE_UP: t->help_top = t->help_top > 10 ? t->help_top - 10 : 0; return RD_VIEW;
		case ACT_HELP: case ACT_ESCAPE:
			t->help = false;
			return RD_ALL;
		case ACT_QUIT:
			t->help = false;
			return RD_ALL;
		default:
			break;
		}
		if (a < ACT_TAB_1 || a > ACT_TAB_PREV)
			return RD_NONE;
	}
	switch (a) {
	case ACT_NONE:
		return RD_NONE;
	case ACT_QUIT:
		return request_quit(t);
	case ACT_HELP:
		t->help = true;
		t->help_top = 0;
		return RD_ALL;
	case ACT_COMMAND:
		tui_prompt(t, ":", "", &cmdline_ops, NULL);
		return RD_ALL;
	case ACT_REDRAW:
		clearok(curscr, TRUE);
		return RD_ALL;
	case ACT_TAB_1: case ACT_TAB_2: case ACT_TAB_3: case ACT_TAB_4: case ACT_TAB_5:
		tui_switch(t, (enum tui_tab)(a - ACT_TAB_1));
		return RD_ALL;
	case ACT_TAB_NEXT:
		tui_switch(t, (enum tui_tab)((t->tab + 1) % TAB__COUNT));
		return RD_ALL;
	case ACT_TAB_PREV:
		tui_switch(t, (enum tui_tab)((t->tab + TAB__COUNT - 1) % TAB__COUNT));
		return RD_ALL;
	default:
		return v->ops->key(t, v, a);
	}
}

/* ---- the trace (ACME_TUI_TRACE): what the benchmark measures ---- */

static void trace_key(struct tui *t, wint_t ch, bool is_key)
{
	if (t->trace)
		fprintf(t->trace, "key %lld %s%u\n", clock_wall_ms(), is_key ? "K" : "", (unsigned)ch);
}

static void trace_paint(struct tui *t)
{
	if (!t->trace)
		return;
	char what[512] = "";
	struct view *v = &t->views[t->tab];
	if (v->ops->describe)
		v->ops->describe(t, v, what, sizeof what);
	fprintf(t->trace, "paint %lld %s %s\n", clock_wall_ms(), v->ops->name, what);
	fflush(t->trace);
}

/* Read every key waiting. false when the terminal is gone. */
static bool read_input(struct tui *t)
{
	for (int i = 0; i < 256; i++) {
		wint_t ch;
		errno = 0;
		int r = get_wch(&ch);
		if (r == ERR) {
			/* nothing more, or the tty is gone (EIO, or EOF on a hung-up line) */
			return !(errno == EIO || errno == ENXIO || errno == EBADF);
		}
		trace_key(t, ch, r == KEY_CODE_YES);
		t->redraw |= handle_key(t, ch, r == KEY_CODE_YES);
		if (t->quit)
			return true;
	}
	return true;
}

/* ---- probes: the title line's "connected / reconnecting" ----
 *
 * Views report their own calls' fate through their slots; these two slots
 * ask each server every PROBE_MS as well, so the title stays true on a tab
 * that reads only one of them, or none. */

#define PROBE_MS 2000
#define PROBE_DEADLINE_MS 2000

struct probes {
	struct slot db, rd;
	long long db_next, rd_next;
};

static int probe_db_done(struct tui *t, struct slot *s, void *arg)
{
	(void)t;
	(void)arg;
	struct acme_err err = { 0 };
	int rc = pgcall_finish_ok(&s->call, &err);
	slot_finished(s, rc < 0 ? &err : NULL);
	return RD_TITLE;
}

static int probe_rd_done(struct tui *t, struct slot *s, void *arg)
{
	(void)t;
	(void)arg;
	struct acme_err err = { 0 };
	int rc = rdscall_finish_ok(&s->rc, &err);
	slot_finished(s, rc < 0 ? &err : NULL);
	return RD_TITLE;
}

static void probes_tick(struct tui *t, struct probes *p, long *wait)
{
	struct acme_err err = { 0 };
	if (t->now >= p->db_next && slot_ready(&p->db)) {
		if (db_ping_start(&p->db.call, p->db.db, PROBE_DEADLINE_MS, &err) == 0)
			slot_started(&p->db);
		else
			slot_finished(&p->db, &err);
		p->db_next = t->now + PROBE_MS;
	}
	if (t->now >= p->rd_next && slot_ready(&p->rd)) {
		if (rds_ping_start(&p->rd.rc, p->rd.rd, PROBE_DEADLINE_MS, &err) == 0)
			slot_started(&p->rd);
		else
			slot_finished(&p->rd, &err);
		p->rd_next = t->now + PROBE_MS;
	}
	long left = (long)((p->db_next < p->rd_next ? p->db_next : p->rd_next) - t->now);
	if (left < *wait)
		*wait = left < 0 ? 0 : left;
}

/* ---- the loop ---- */

static int loop(struct tui *t)
{
	struct pollfd pfd[MAX_PFD];
	struct slot *slotv[MAX_PFD];
	struct probes probes;
	slot_init(&probes.db, t, SLOT_PG, "probe", probe_db_done, NULL);
	slot_init(&probes.rd, t, SLOT_REDIS, "probe", probe_rd_done, NULL);
	/* the first paint comes first */
	probes.db_next = probes.rd_next = t->started + BACKGROUND_DELAY_MS;
	t->redraw = RD_ALL;
	while (!t->quit && !sig_quit) {
		t->now = clock_mono_ms();
		long wait = TICK_MS;
		probes_tick(t, &probes, &wait);
		/* views start what is due */
		for (int i = 0; i < TAB__COUNT; i++) {
			struct view *v = &t->views[i];
			if (v->ops->tick)
				t->redraw |= v->ops->tick(t, v, t->now, &wait);
		}
		if (t->status[0] && t->status_until && t->now >= t->status_until) {
			t->status[0] = '\0';
			t->redraw |= RD_STATUS;
		}
		if (t->redraw) {
			draw(t);
			trace_paint(t);
			t->redraw = RD_NONE;
		}
		int n = 0;
		pfd[n].fd = STDIN_FILENO;
		pfd[n++].events = POLLIN;
		pfd[n].fd = sig_pipe[0];
		pfd[n++].events = POLLIN;
		pfd[n].fd = tasks_fd(t);
		pfd[n++].events = POLLIN;
		int nfixed = n;
		for (struct slot *s = t->slots; s && n < MAX_PFD - 8; s = s->next) {
			slotv[n] = s;
			slot_pollfd(s, &pfd[n], &wait);
			n++;
		}
		int nslots_end = n;
		for (int i = 0; i < TAB__COUNT; i++) {
			struct view *v = &t->views[i];
			v->pfd_first = n;
			v->pfd_count = v->ops->pollfds ? v->ops->pollfds(t, v, pfd + n, MAX_PFD - n) : 0;
			n += v->pfd_count;
		}
		if (wait < 0)
			wait = 0;
		int r = poll(pfd, (nfds_t)n, (int)wait);
		if (r < 0 && errno != EINTR)
			return acme_err_set(NULL, ACME_E_FAILURE, "poll");
		t->now = clock_mono_ms();
		if (r > 0 && (pfd[0].revents & (POLLHUP | POLLERR | POLLNVAL)) &&
		    !(pfd[0].revents & POLLIN))
			return 1;       /* the tty is gone */
		if (r > 0 && (pfd[0].revents & POLLIN) && !read_input(t))
			return 1;
		if (pfd[1].revents & POLLIN) {
			char buf[16];
			while (read(sig_pipe[0], buf, sizeof buf) > 0)
				;
		}
		if (sig_winch) {
			sig_winch = 0;
			struct winsize ws;
			if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
				resizeterm(ws.ws_row, ws.ws_col);
				clearok(curscr, TRUE);
				t->redraw |= RD_ALL;
			}
		}
		if (pfd[2].revents & POLLIN)
			t->redraw |= tasks_collect(t);
		/* every busy slot is stepped: a deadline may have passed without I/O */
		for (int i = nfixed; i < nslots_end; i++)
			t->redraw |= slot_step(slotv[i]);
		for (int i = 0; i < TAB__COUNT; i++) {
			struct view *v = &t->views[i];
			if (v->pfd_count && v->ops->pollin)
				t->redraw |= v->ops->pollin(t, v, pfd + v->pfd_first, v->pfd_count);
		}
	}
	slot_unlink(t, &probes.db);
	slot_unlink(t, &probes.rd);
	slot_release(&probes.db);
	slot_release(&probes.rd);
	return 0;
}

static void terminal_restore(void)
{
	if (!isendwin())
		endwin();
}

int tui_run(struct session *s, const struct tui_opts *o, struct acme_err *err)
{
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
		return acme_err_set(err, ACME_E_USAGE,
				    "tui: needs a terminal on stdin and stdout; for scripts use "
				    "the commands (acmectl products list, acmectl jobs list, ...)");
	setlocale(LC_ALL, "");
	struct tui *t = xcalloc(1, sizeof *t);
	struct log_ring *ring = xcalloc(1, sizeof *ring);
	log_ring_init(ring);
	t->ring = ring;
	t->s = s;
	t->cfg = &s->cfg;
	t->production = config_is_production(&s->cfg);
	t->tab = o->start_tab;
	t->now = t->started = clock_mono_ms();
	const char *term = getenv("TERM");
	const char *nocolor = getenv("NO_COLOR");
	t->color = !(nocolor && *nocolor) && !(term && strcmp(term, "dumb") == 0);
	const char *trace = getenv("ACME_TUI_TRACE");
	if (trace && *trace)
		t->trace = fopen(trace, "we");

	int rc = -1;
	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		acme_err_set(err, ACME_E_FAILURE, "tui: pipe: %s", strerror(errno));
		goto out_free;
	}
	if (tcgetattr(STDIN_FILENO, &saved_tio) == 0)
		have_tio = true;
	if (tasks_start(t, err) < 0)
		goto out_pipe;

	/* a terminal that cannot move the cursor (TERM=dumb, unknown) cannot
	 * show a screen: say so instead of drawing nothing */
	int errret = 0;
	if (setupterm(NULL, STDOUT_FILENO, &errret) != OK) {
		acme_err_set(err, ACME_E_USAGE,
			     "tui: unknown terminal type \"%s\"; set TERM to your terminal's "
			     "(e.g. xterm-256color), or use the commands", term ? term : "");
		goto out_tasks;
	}
	const char *cup = tigetstr((char *)"cup");
	bool can_address = cup && cup != (char *)-1;
	del_curterm(cur_term);
	if (!can_address) {
		acme_err_set(err, ACME_E_USAGE,
			     "tui: the terminal \"%s\" cannot move the cursor; set TERM to your "
			     "terminal's type (e.g. xterm-256color), or use the commands "
			     "(acmectl products list, acmectl jobs list, ...)", term ? term : "");
		goto out_tasks;
	}
	install_signals();
	if (!initscr()) {
		acme_err_set(err, ACME_E_FAILURE, "tui: cannot initialise the terminal (TERM=%s)",
			     term ? term : "");
		goto out_tasks;
	}
	/* from here on core's messages go to the ring, not over the screen */
	struct log_config lc = *log_get_config();
	lc.sink = ring_sink;
	lc.sink_arg = ring;
	log_setup(&lc);
	add_seq("rmcup");
	add_seq("cnorm");
	add_seq("sgr0");
	if (!o->no_mouse)
		memcpy(restore_seq + restore_len, "\033[?1000l", 8), restore_len += 8;
	raw();          /* Ctrl-S and Ctrl-C reach us as keys (no flow control) */
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	ui_init_styles(t->color);
	if (!o->no_mouse)
		mousemask(BUTTON1_CLICKED | BUTTON1_PRESSED | BUTTON4_PRESSED
#ifdef BUTTON5_PRESSED
			  | BUTTON5_PRESSED
#endif
			  , NULL);
	atexit(terminal_restore);

	for (int i = 0; i < TAB__COUNT; i++) {
		t->views[i].ops = view_table[i];
		if (view_table[i]->open && view_table[i]->open(t, &t->views[i]) < 0) {
			/* a view that cannot open shows its error; the others still run */
			tui_status(t, UI_ERROR, "%s: cannot open", view_table[i]->name);
		}
	}
	rc = loop(t);
	/* tasks first: a finished task's done callback still finds its view */
	tasks_stop(t);
	for (int i = 0; i < TAB__COUNT; i++)
		if (t->views[i].ops && t->views[i].ops->close)
			t->views[i].ops->close(t, &t->views[i]);
	free(t->modal);
	terminal_restore();
	if (sig_quit == SIGTERM || sig_quit == SIGHUP)
		rc = 128 + sig_quit;
	else if (sig_quit == SIGINT)
		rc = 130;
	else if (rc == 1)
		rc = 0;      /* the tty went away: nothing to report to */
	goto out_free_only;

out_tasks:
	tasks_stop(t);
out_pipe:
	close(sig_pipe[0]);
	close(sig_pipe[1]);
	sig_pipe[0] = sig_pipe[1] = -1;
out_free:
	if (t->trace)
		fclose(t->trace);
	free(ring);
	free(t);
	return rc;

out_free_only:
	close(sig_pipe[0]);
	close(sig_pipe[1]);
	sig_pipe[0] = sig_pipe[1] = -1;
	{
		struct log_config back = *log_get_config();
		back.sink = NULL;
		back.sink_arg = NULL;
		log_setup(&back);
	}
	if (t->trace)
		fclose(t->trace);
	free(ring);
	free(t);
	return rc;
}
