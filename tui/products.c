/* products.c — the Products tab: the catalog as a table paged from the
 * server, filtered as you type, sorted, edited in place.
 *
 * Paging is the core's keyset paging (products_list_start): the screen holds
 * one page, as many rows as fit, never the catalog. A stack of cursors
 * remembers how we got here, so PgUp goes back exactly. G shows the last
 * page by reading the first page of the reversed order and showing it upside
 * down; from there PgUp walks the reversed order forward, so the end of a
 * million rows is one query away, like the start.
 *
 * Two slots: one for the page, one for the count ("rows X-Y of ~N"); a new
 * filter or sort abandons (cancels) both calls in flight and starts again
 * after a short debounce, so typing a filter never queues stale queries.
 *
 * Changes (a saved cell, a new product, a delete, a bulk delete) run as
 * tasks on the writer thread through the very functions `acmectl products`
 * calls: the same validation, one transaction with its audit row and its
 * outbox event. Validation (core/productfields.h) happens first, on the
 * loop: a bad value shows in place and the edit stays open.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/products.h"
#include "core/xalloc.h"
#include "tui/tui.h"

#define DEBOUNCE_MS   8
#define LIST_DEADLINE 5000
#define COUNT_DEADLINE 10000
#define MAX_PAGE      200
#define MAX_DEPTH     100000   /* cursors remembered (each a few dozen bytes) */
#define DETAILS_H     8

enum col { C_SKU, C_NAME, C_DESC, C_PRICE, C_ACTIVE, C_UPDATED, C__COUNT };
static const char *const col_title[C__COUNT] = {
	"SKU", "Name", "Description", "Price", "Active", "Updated",
};
static const int col_field[C__COUNT] = {
	PRODUCT_SKU, PRODUCT_NAME, PRODUCT_DESCRIPTION, PRODUCT_PRICE, PRODUCT_ACTIVE, -1,
};

struct prow {
	char *id, *sku, *name, *description, *price, *updated_at, *created_at;
	bool active;
};

struct filter_text {
	char *query, *sku, *name, *description;
	int active;
};

struct pstate {
	struct slot list, count;
	/* what is asked */
	struct filter_text f;
	enum products_sort sort;
	bool desc;
	/* the page on screen */
	struct prow rows[MAX_PAGE];
	size_t nrows;
	size_t sel;
	enum col col;
	bool reverse;             /* the G mode: pages of the reversed order */
	char **cursors;           /* cursors[i] loads page i (cursors[0] = NULL) */
	long long *offsets;       /* rows before page i (from the end in reverse mode) */
	size_t depth, cap;        /* page index and the stack's size */
	char *next_cursor;        /* the page after this one; NULL: last */
	bool select_last;         /* after loading, select the last row (Up past the top) */
	long long total;          /* -1 unknown */
	bool loaded;
	bool stale;               /* the last read of the page failed */
	bool seen_down;           /* the database was seen down since the last read */
	char error[512];
	/* calls in flight */
	long long due;            /* monotonic ms: start the list; 0 none */
	bool count_due;
	long long count_at;       /* monotonic ms: not before (after a failure) */
	unsigned gen;             /* bumped by every new query */
	unsigned list_gen;
	struct products_list_opts inflight;
	char *inflight_strings[5];
	int limit;                /* rows that fit */
	/* inline edit */
	bool editing;
	struct lineedit edit;
	char edit_error[512];
	char edit_id[32];
	bool saving;
	/* details pane */
	bool details;
	/* "/" prompt: the query before it opened, for Esc */
	char *saved_query;
	/* bulk delete: the exact count the user must type */
	long long bulk_count;
};

static void prow_free(struct prow *r)
{
	free(r->id);
	free(r->sku);
	free(r->name);
	free(r->description);
	free(r->price);
	free(r->updated_at);
	free(r->created_at);
	memset(r, 0, sizeof *r);
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static void set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = s && *s ? xstrdup(s) : NULL;
}

static void filter_to_core(const struct filter_text *f, struct products_filter *pf)
{
	pf->query = f->query;
	pf->sku = f->sku;
	pf->name = f->name;
	pf->description = f->description;
	pf->active = f->active;
}

static void stack_reset(struct pstate *p)
{
	for (size_t i = 0; i < p->cap; i++)
		free(p->cursors[i]);
	free(p->cursors);
	free(p->offsets);
	p->cap = 16;
	p->cursors = xcalloc(p->cap, sizeof *p->cursors);
	p->offsets = xcalloc(p->cap, sizeof *p->offsets);
	p->depth = 0;
}

/* A new query (filter or sort or mode): back to its first page. */
static void requery(struct tui *t, struct pstate *p, bool reverse)
{
	stack_reset(p);
	p->reverse = reverse;
	p->sel = 0;
	p->select_last = false;
	p->gen++;
	p->due = t->now + DEBOUNCE_MS;
	p->count_due = true;
	p->total = -1;
}

/* Load the current stack entry again (r, a resize, a change saved). */
static void reload(struct tui *t, struct pstate *p)
{
	p->gen++;
	p->due = t->now;
}

/* ---- the list call ---- */

static int keep_row(void *arg, const struct products_row *row, struct acme_err *err)
{
	(void)err;
	struct pstate *p = arg;
	if (p->nrows >= MAX_PAGE)
		return 0;
	struct prow *r = &p->rows[p->nrows++];
	r->id = xstrdup(row->id);
	r->sku = xstrdup(row->sku);
	r->name = xstrdup(row->name);
	r->description = dup_or_null(row->description);
	r->price = dup_or_null(row->price);
	r->updated_at = dup_or_null(row->updated_at);
	r->created_at = dup_or_null(row->created_at);
	r->active = row->active;
	return 0;
}

static int discard_row(void *arg, const struct products_row *row, struct acme_err *err)
{
	(void)arg;
	(void)row;
	(void)err;
	return 0;
}

static void inflight_free(struct pstate *p)
{
	for (int i = 0; i < 5; i++) {
		free(p->inflight_strings[i]);
		p->inflight_strings[i] = NULL;
	}
	memset(&p->inflight, 0, sizeof p->inflight);
}

static int list_done(struct tui *t, struct slot *s, void *arg)
{
	struct pstate *p = arg;
	struct acme_err err = { 0 };
	struct products_page pg = { 0 };
	bool current = p->list_gen == p->gen;
	if (!current) {
		/* abandoned: a newer query replaced it */
		products_list_finish(&s->call, &p->inflight, discard_row, p, &pg, &err);
		products_page_release(&pg);
		inflight_free(p);
		slot_finished(s, NULL);
		return RD_NONE;
	}
	/* keep the old rows until the new ones are here */
	struct prow old[MAX_PAGE];
	size_t nold = p->nrows;
	memcpy(old, p->rows, sizeof(struct prow) * nold);
	p->nrows = 0;
	int rc = products_list_finish(&s->call, &p->inflight, keep_row, p, &pg, &err);
	inflight_free(p);
	if (rc < 0) {
		for (size_t i = 0; i < p->nrows; i++)
			prow_free(&p->rows[i]);
		memcpy(p->rows, old, sizeof(struct prow) * nold);
		p->nrows = nold;
		p->stale = true;
		snprintf(p->error, sizeof p->error, "%s", err.msg);
		/* ask again: the server may be going away ("terminating connection
		 * due to administrator command" is a server error, not a lost
		 * connection, until the next call finds the socket closed) */
		if (err.code != ACME_E_USAGE)
			p->due = t->now + 1000;
		if (err.code != ACME_E_UNAVAILABLE && err.code != ACME_E_TEMPFAIL)
			tui_status(t, UI_ERROR, "products: %s", err.msg);
		slot_finished(s, &err);
		return RD_ALL;
	}
	for (size_t i = 0; i < nold; i++)
		prow_free(&old[i]);
	slot_finished(s, NULL);
	if (p->reverse) {
		/* shown upside down: the last row of the catalog at the bottom */
		for (size_t i = 0; i < p->nrows / 2; i++) {
			struct prow tmp = p->rows[i];
			p->rows[i] = p->rows[p->nrows - 1 - i];
			p->rows[p->nrows - 1 - i] = tmp;
		}
	}
	free(p->next_cursor);
	p->next_cursor = pg.next_cursor;
	pg.next_cursor = NULL;
	if (pg.total >= 0 && p->depth == 0)
		p->total = pg.total;
	p->loaded = true;
	p->stale = false;
	p->error[0] = '\0';
	if (p->select_last || (p->reverse && p->depth == 0 && p->sel == 0))
		p->sel = p->nrows ? p->nrows - 1 : 0;
	p->select_last = false;
	if (p->sel >= p->nrows)
		p->sel = p->nrows ? p->nrows - 1 : 0;
	products_page_release(&pg);
	return RD_VIEW;
}

static void start_list(struct tui *t, struct pstate *p)
{
	struct acme_err err = { 0 };
	inflight_free(p);
	p->inflight_strings[0] = dup_or_null(p->f.query);
	p->inflight_strings[1] = dup_or_null(p->f.sku);
	p->inflight_strings[2] = dup_or_null(p->f.name);
	p->inflight_strings[3] = dup_or_null(p->f.description);
	p->inflight_strings[4] = dup_or_null(p->cursors[p->depth]);
	struct products_list_opts *o = &p->inflight;
	o->filter.query = p->inflight_strings[0];
	o->filter.sku = p->inflight_strings[1];
	o->filter.name = p->inflight_strings[2];
	o->filter.description = p->inflight_strings[3];
	o->filter.active = p->f.active;
	o->sort = p->sort;
	o->desc = p->reverse ? !p->desc : p->desc;
	o->limit = p->limit;
	o->after = p->inflight_strings[4];
	o->want_total = p->depth == 0;
	p->list_gen = p->gen;
	if (products_list_start(&p->list.call, p->list.db, o, LIST_DEADLINE, &err) < 0) {
		inflight_free(p);
		snprintf(p->error, sizeof p->error, "%s", err.msg);
		p->stale = true;
		slot_finished(&p->list, &err);
		p->due = t->now + 1000;
		return;
	}
	slot_started(&p->list);
	p->due = 0;
}

/* ---- the count call ---- */

struct count_filter {
	struct filter_text f;
};

static int count_done(struct tui *t, struct slot *s, void *arg)
{
	struct pstate *p = arg;
	struct acme_err err = { 0 };
	long long n = -1;
	int rc = products_count_finish(&s->call, &n, &err);
	if (rc == 0 && !p->count_due)
		p->total = n;
	else if (rc < 0 && err.code != ACME_E_USAGE) {
		p->count_due = true;      /* ask again in a while */
		p->count_at = t->now + 2000;
	}
	slot_finished(s, rc < 0 ? &err : NULL);
	return RD_VIEW;
}

static void start_count(struct pstate *p)
{
	struct acme_err err = { 0 };
	struct products_filter pf = PRODUCTS_FILTER_INIT;
	filter_to_core(&p->f, &pf);
	if (products_count_start(&p->count.call, p->count.db, &pf, COUNT_DEADLINE, &err) < 0) {
		slot_finished(&p->count, &err);
		return;
	}
	slot_started(&p->count);
	p->count_due = false;
}

/* Abandon what is in flight for an older query: _finish cancels it. */
static void abandon(struct tui *t, struct pstate *p)
{
	if (slot_busy(&p->list) && p->list_gen != p->gen)
		p->list.done(t, &p->list, p);
	if (slot_busy(&p->count) && p->count_due) {
		struct acme_err err = { 0 };
		long long n;
		products_count_finish(&p->count.call, &n, &err);
		slot_finished(&p->count, NULL);
	}
}

/* Rows that fit: the screen less the title, tabs and status lines, the
 * summary and header lines, and the details pane when it is open. */
static int rows_that_fit(const struct pstate *p)
{
	int want = ui_size().rows - 3 - 2 - (p->details ? DETAILS_H : 0);
	if (want < 1)
		want = 1;
	return want > MAX_PAGE ? MAX_PAGE : want;
}

static int products_tick(struct tui *t, struct view *v, long long now, long *wait_ms)
{
	struct pstate *p = v->priv;
	int rd = RD_NONE;
	int want = rows_that_fit(p);
	if (want != p->limit) {
		/* the page size follows the window: reload this page at the new size */
		p->limit = want;
		if (p->loaded)
			reload(t, p);
	}
	if (p->due) {
		abandon(t, p);
		if (now >= p->due) {
			if (slot_ready(&p->list))
				start_list(t, p);
		} else if (p->due - now < *wait_ms) {
			*wait_ms = (long)(p->due - now);
		}
	}
	/* the count waits for the page: on a big catalog it is the slower of the
	 * two, and the first paint must not share the CPU with it */
	if (p->count_due && !p->due && !slot_busy(&p->list) && now >= p->count_at &&
	    slot_ready(&p->count))
		start_count(p);
	/* the database went away and came back: read the page again, so what
	 * is on screen is fresh, not only no longer marked stale */
	if (t->db_state == CONN_DOWN && p->loaded && !p->seen_down) {
		p->seen_down = true;
		rd |= RD_VIEW;
	} else if (t->db_state == CONN_UP && p->seen_down) {
		p->seen_down = false;
		p->count_due = true;
		reload(t, p);
		rd |= RD_VIEW;
	}
	return rd;
}

/* ---- paging ---- */

static void push_page(struct tui *t, struct pstate *p)
{
	if (!p->next_cursor || p->depth + 1 >= MAX_DEPTH)
		return;
	if (p->depth + 1 >= p->cap) {
		size_t ncap = p->cap * 2;
		p->cursors = xrealloc(p->cursors, ncap * sizeof *p->cursors);
		p->offsets = xrealloc(p->offsets, ncap * sizeof *p->offsets);
		memset(p->cursors + p->cap, 0, (ncap - p->cap) * sizeof *p->cursors);
		memset(p->offsets + p->cap, 0, (ncap - p->cap) * sizeof *p->offsets);
		p->cap = ncap;
	}
	p->depth++;
	free(p->cursors[p->depth]);
	p->cursors[p->depth] = xstrdup(p->next_cursor);
	p->offsets[p->depth] = p->offsets[p->depth - 1] + (long long)p->nrows;
	reload(t, p);
}

static bool pop_page(struct tui *t, struct pstate *p)
{
	if (p->depth == 0)
		return false;
	free(p->cursors[p->depth]);
	p->cursors[p->depth] = NULL;
	p->depth--;
	reload(t, p);
	return true;
}

/* Toward the end of the catalog (Down past the bottom, PgDn). */
static int page_forward(struct tui *t, struct pstate *p)
{
	if (!p->reverse) {
		if (!p->next_cursor)
			return RD_NONE;
		push_page(t, p);
		p->sel = 0;
		return RD_VIEW;
	}
	if (!pop_page(t, p))
		return RD_NONE;
	p->sel = 0;
	return RD_VIEW;
}

static int page_back(struct tui *t, struct pstate *p, bool select_last)
{
	if (!p->reverse) {
		if (!pop_page(t, p))
			return RD_NONE;
	} else {
		if (!p->next_cursor)
			return RD_NONE;
		push_page(t, p);
	}
	p->select_last = select_last;
	p->sel = 0;
	return RD_VIEW;
}

/* ---- drawing ---- */

static void col_widths(int w, int *cw)
{
	cw[C_SKU] = 16;
	cw[C_PRICE] = 10;
	cw[C_ACTIVE] = 6;
	cw[C_UPDATED] = 16;
	int rest = w - (cw[C_SKU] + cw[C_PRICE] + cw[C_ACTIVE] + cw[C_UPDATED]) - (C__COUNT - 1) - 1;
	if (rest < 10)
		rest = 10;
	cw[C_NAME] = rest / 2;
	cw[C_DESC] = rest - cw[C_NAME];
}

static const char *cell(const struct prow *r, enum col c, char *buf, size_t n)
{
	switch (c) {
	case C_SKU: return r->sku;
	case C_NAME: return r->name;
	case C_DESC: return r->description ? r->description : "";
	case C_PRICE: return r->price ? r->price : "";
	case C_ACTIVE: return r->active ? "yes" : "no";
	case C_UPDATED:
		if (!r->updated_at)
			return "";
		snprintf(buf, n, "%.10s %.5s", r->updated_at,
			 strlen(r->updated_at) > 11 ? r->updated_at + 11 : "");
		return buf;
	default: return "";
	}
}

static void describe_filter(const struct pstate *p, char *buf, size_t n)
{
	buf[0] = '\0';
	size_t len = 0;
#define ADD(...) do { if (len < n) len += (size_t)snprintf(buf + len, n - len, __VA_ARGS__); } while (0)
	if (p->f.query) ADD(" /%s", p->f.query);
	if (p->f.sku) ADD(" sku=%s", p->f.sku);
	if (p->f.name) ADD(" name~%s", p->f.name);
	if (p->f.description) ADD(" description~%s", p->f.description);
	if (p->f.active == 1) ADD(" active");
	if (p->f.active == 0) ADD(" inactive");
#undef ADD
}

static void products_draw(struct tui *t, struct view *v, int y, int h, int w)
{
	struct pstate *p = v->priv;
	/* stale: our last read failed, or the database is down now */
	bool stale = p->stale || t->db_state == CONN_DOWN;
	int details_h = p->details ? DETAILS_H : 0;
	int table_h = h - 1 - details_h;       /* a summary line above the rows */
	(void)t;
	/* summary: rows X-Y of ~N, sort, filter, staleness */
	char total[32], fdesc[256], line[512];
	long long first = 0, last = 0;
	if (p->nrows) {
		if (!p->reverse) {
			first = p->offsets[p->depth] + 1;
			last = first + (long long)p->nrows - 1;
		} else if (p->total >= 0) {
			last = p->total - p->offsets[p->depth];
			first = last - (long long)p->nrows + 1;
		}
	}
	if (p->total >= 0)
		snprintf(total, sizeof total, "%lld", p->total);
	else
		snprintf(total, sizeof total, "?");
	describe_filter(p, fdesc, sizeof fdesc);
	if (!p->loaded)
		snprintf(line, sizeof line, "loading...");
	else if (!p->nrows)
		snprintf(line, sizeof line, "no products match%s", fdesc[0] ? fdesc : "");
	else if (first > 0 && p->total > 0)
		snprintf(line, sizeof line, "rows %lld-%lld of ~%s (%lld%%)", first, last, total,
			 last >= p->total ? 100 : first * 100 / p->total);
	else if (first > 0)
		snprintf(line, sizeof line, "rows %lld-%lld of ~%s", first, last, total);
	else
		snprintf(line, sizeof line, "last %zu rows of ~%s", p->nrows, total);
	int x = ui_text(y, 1, w - 2, line, UI_BOLD, false) + 1;
	char sortdesc[64];
	snprintf(sortdesc, sizeof sortdesc, "  sort %s%s", products_sort_name(p->sort),
		 p->desc ? " desc" : "");
	x += ui_text(y, x, w - x, sortdesc, UI_DIM, false);
	if (fdesc[0]) {
		x += ui_text(y, x, w - x, "  filter", UI_DIM, false);
		x += ui_text(y, x, w - x, fdesc, UI_INFO, false);
	}
	if (stale && p->loaded)
		ui_text(y, x + 2, w - x - 2, "STALE (database unreachable; showing the last data)",
			UI_WARN, false);
	else if (p->error[0] && stale)
		ui_text(y, x + 2, w - x - 2, p->error, UI_ERROR, false);
	/* header */
	int cw[C__COUNT];
	col_widths(w, cw);
	int hy = y + 1;
	x = 1;
	for (int c = 0; c < C__COUNT; c++) {
		char title[64];
		bool sorted = (c == C_SKU && p->sort == PRODUCTS_SORT_SKU) ||
			      (c == C_NAME && p->sort == PRODUCTS_SORT_NAME) ||
			      (c == C_PRICE && p->sort == PRODUCTS_SORT_PRICE) ||
			      (c == C_UPDATED && p->sort == PRODUCTS_SORT_UPDATED_AT);
		snprintf(title, sizeof title, "%s%s", col_title[c],
			 sorted ? (p->desc ? " v" : " ^") : "");
		ui_text(hy, x, cw[c], title, c == (int)p->col ? UI_SELECTED_CELL : UI_HEADER, true);
		x += cw[c] + 1;
	}
	/* rows */
	for (size_t i = 0; i < p->nrows && (int)i < table_h - 1; i++) {
		const struct prow *r = &p->rows[i];
		int ry = hy + 1 + (int)i;
		bool sel = i == p->sel;
		enum ui_style st = stale ? UI_DIM : sel ? UI_SELECTED : UI_NORMAL;
		if (sel)
			ui_fill(ry, 0, w, st);
		x = 1;
		for (int c = 0; c < C__COUNT; c++) {
			char buf[64];
			enum ui_style cs = st;
			if (sel && c == (int)p->col)
				cs = UI_SELECTED_CELL;
			if (c == C_ACTIVE && !sel && !r->active && !stale)
				cs = UI_DIM;
			if (sel && c == (int)p->col && p->editing) {
				edit_draw(&p->edit, ry, x, cw[c], UI_NORMAL, true);
			} else if (c == C_PRICE) {
				ui_text_right(ry, x, cw[c], cell(r, c, buf, sizeof buf), cs);
			} else {
				ui_text(ry, x, cw[c], cell(r, c, buf, sizeof buf), cs, true);
			}
			x += cw[c] + 1;
		}
	}
	if (p->editing && p->sel < p->nrows) {
		int ry = hy + 1 + (int)p->sel;
		if (p->edit_error[0] || p->saving) {
			/* the validation error, in place under the cell */
			int ey = ry + 1 < hy + table_h ? ry + 1 : ry - 1;
			ui_text(ey, 1, w - 2, p->saving ? "saving..." : p->edit_error,
				p->saving ? UI_INFO : UI_ERROR, true);
		}
		/* the cursor belongs to the edit: draw it last */
		int ex = 1;
		for (int c = 0; c < (int)p->col; c++)
			ex += cw[c] + 1;
		edit_draw(&p->edit, ry, ex, cw[p->col], UI_NORMAL, true);
	}
	/* details */
	if (p->details && p->sel < p->nrows) {
		const struct prow *r = &p->rows[p->sel];
		int dy = y + h - details_h;
		ui_fill(dy, 0, w, UI_HEADER);
		ui_textf(dy, 1, w - 2, UI_HEADER, false, "Product %s (id %s)   Esc closes", r->sku,
			 r->id);
		ui_textf(dy + 1, 2, w - 4, UI_NORMAL, false, "Name:        %s", r->name);
		ui_textf(dy + 2, 2, w - 4, UI_NORMAL, false, "Price:       %s   Active: %s",
			 r->price ? r->price : "(none)", r->active ? "yes" : "no");
		ui_textf(dy + 3, 2, w - 4, UI_NORMAL, false, "Created:     %s",
			 r->created_at ? r->created_at : "");
		ui_textf(dy + 4, 2, w - 4, UI_NORMAL, false, "Updated:     %s",
			 r->updated_at ? r->updated_at : "");
		/* the description over the last lines, wrapped by the screen */
		const char *d = r->description ? r->description : "(none)";
		ui_text(dy + 5, 2, 13, "Description:", UI_NORMAL, false);
		int dw = w - 17;
		for (int line_no = 0; line_no < 3 && *d; line_no++) {
			/* cut by bytes that fit dw columns */
			char chunk[1024];
			size_t n = 0;
			while (d[n] && n < sizeof chunk - 1) {
				size_t len = 1;
				while (d[n + len] && ((unsigned char)d[n + len] & 0xC0) == 0x80)
					len++;
				memcpy(chunk, d, n + len);
				chunk[n + len] = '\0';
				if (ui_width(chunk) > dw)
					break;
				n += len;
			}
			if (n == 0)
				break;
			memcpy(chunk, d, n);
			chunk[n] = '\0';
			ui_text(dy + 5 + line_no, 15, dw, chunk, UI_NORMAL, false);
			d += n;
		}
	}
}

/* ---- changes: tasks on the writer thread ---- */

struct change {
	struct pstate *p;
	enum { CH_UPDATE, CH_CREATE, CH_DELETE, CH_BULK, CH_COUNT } kind;
	char key[48];
	char sku[256];
	struct products_input in;
	struct products_filter filter;
	struct filter_text ftext;
	long long expected, result;
	const char *env;
	unsigned form;       /* the form being saved (tui_form_current) */
};

static void change_free(struct change *c)
{
	products_input_release(&c->in);
	free(c->ftext.query);
	free(c->ftext.sku);
	free(c->ftext.name);
	free(c->ftext.description);
	free(c);
}

static int change_run(struct task_env *env, void *arg, struct acme_err *err)
{
	struct change *c = arg;
	PGconn *db = task_db(env, err);
	if (!db)
		return -1;
	static const char *const what[] = {
		"tui products update", "tui products create", "tui products delete",
		"tui products delete --all", "tui products count",
	};
	struct products_actor who = { c->env, what[c->kind] };
	switch (c->kind) {
	case CH_UPDATE:
		return products_update(db, c->key, &c->in, &who, NULL, NULL, err);
	case CH_CREATE:
		return products_create(db, &c->in, 1, false, &who, NULL, NULL, err);
	case CH_DELETE: {
		const char *keys[1] = { c->key };
		return products_delete(db, keys, 1, &who, NULL, NULL, err);
	}
	case CH_BULK:
		return products_bulk_delete(db, &c->filter, c->expected, &who, &c->result, err);
	case CH_COUNT:
		return products_count(db, &c->filter, &c->result, err);
	}
	return 0;
}

static const struct prompt_ops bulk_ops;

static int change_done(struct tui *t, void *arg, int rc, const struct acme_err *err)
{
	struct change *c = arg;
	struct pstate *p = c->p;
	switch (c->kind) {
	case CH_UPDATE:
		p->saving = false;
		if (rc < 0) {
			/* keep the edit open with the reason in place */
			snprintf(p->edit_error, sizeof p->edit_error, "%s", err->msg);
			if (!p->editing)
				tui_status(t, UI_ERROR, "not saved: %s", err->msg);
			break;
		}
		p->editing = false;
		p->edit_error[0] = '\0';
		tui_status(t, UI_OK, "saved %s", c->sku);
		reload(t, p);
		break;
	case CH_CREATE:
		if (rc < 0) {
			tui_form_error(t, c->form, err->msg);
			if (!tui_modal_open(t))
				tui_status(t, UI_ERROR, "not created: %s", err->msg);
			break;
		}
		tui_form_close(t, c->form);
		tui_status(t, UI_OK, "created %s", c->sku);
		requery(t, p, p->reverse);
		break;
	case CH_DELETE:
		if (rc < 0) {
			tui_status(t, UI_ERROR, "not deleted: %s", err->msg);
			break;
		}
		tui_status(t, UI_OK, "deleted %s", c->sku);
		p->count_due = true;
		reload(t, p);
		break;
	case CH_BULK:
		if (rc < 0) {
			tui_status(t, UI_ERROR, "nothing was deleted: %s", err->msg);
			break;
		}
		tui_status(t, UI_OK, "deleted %lld products", c->result);
		requery(t, p, false);
		break;
	case CH_COUNT: {
		if (rc < 0) {
			tui_status(t, UI_ERROR, "bulk delete: cannot count the products: %s", err->msg);
			break;
		}
		if (c->result == 0) {
			tui_status(t, UI_INFO, "no products match the filter: nothing to delete");
			break;
		}
		p->bulk_count = c->result;
		char fdesc[256], label[512];
		describe_filter(p, fdesc, sizeof fdesc);
		snprintf(label, sizeof label,
			 "delete %lld products (%s)? type %lld to confirm: ", c->result,
			 fdesc[0] ? fdesc + 1 : "no filter: the WHOLE catalog", c->result);
		tui_prompt(t, label, "", &bulk_ops, p);
		break;
	}
	}
	change_free(c);
	return RD_ALL;
}

static struct change *change_new(struct tui *t, struct pstate *p, int kind)
{
	struct change *c = xcalloc(1, sizeof *c);
	c->p = p;
	c->kind = kind;
	c->env = tui_environment(t);
	return c;
}

static void copy_filter(struct change *c, const struct pstate *p)
{
	c->ftext.query = dup_or_null(p->f.query);
	c->ftext.sku = dup_or_null(p->f.sku);
	c->ftext.name = dup_or_null(p->f.name);
	c->ftext.description = dup_or_null(p->f.description);
	c->ftext.active = p->f.active;
	struct products_filter pf = PRODUCTS_FILTER_INIT;
	filter_to_core(&c->ftext, &pf);
	c->filter = pf;
}

static int bulk_accept(struct tui *t, void *arg, const char *text)
{
	struct pstate *p = arg;
	char want[32];
	snprintf(want, sizeof want, "%lld", p->bulk_count);
	if (strcmp(text, want) != 0) {
		tui_status(t, UI_WARN, "bulk delete cancelled: you typed \"%s\", not %s", text, want);
		return 0;
	}
	struct change *c = change_new(t, p, CH_BULK);
	copy_filter(c, p);
	c->expected = p->bulk_count;
	tui_status(t, UI_INFO, "deleting %lld products...", p->bulk_count);
	tui_task(t, change_run, change_done, c);
	return 0;
}

static int bulk_cancel(struct tui *t, void *arg)
{
	(void)arg;
	tui_status(t, UI_INFO, "bulk delete cancelled: nothing was deleted");
	return RD_STATUS;
}

static const struct prompt_ops bulk_ops = { NULL, bulk_accept, bulk_cancel, NULL };

static int delete_answer(struct tui *t, void *arg, bool yes)
{
	struct pstate *p = arg;
	if (!yes || p->sel >= p->nrows) {
		tui_status(t, UI_INFO, "not deleted");
		return RD_STATUS;
	}
	struct prow *r = &p->rows[p->sel];
	struct change *c = change_new(t, p, CH_DELETE);
	snprintf(c->key, sizeof c->key, "id:%s", r->id);
	snprintf(c->sku, sizeof c->sku, "%s", r->sku);
	tui_task(t, change_run, change_done, c);
	return RD_STATUS;
}

/* ---- the inline edit ---- */

static int edit_save(struct tui *t, struct pstate *p)
{
	struct prow *r = &p->rows[p->sel];
	struct change *c = change_new(t, p, CH_UPDATE);
	struct acme_err err = { 0 };
	enum product_field f = (enum product_field)col_field[p->col];
	if (products_input_set(&c->in, f, p->edit.buf, p->edit.len, &err) < 0) {
		snprintf(p->edit_error, sizeof p->edit_error, "%s", err.msg);
		change_free(c);
		return RD_VIEW;
	}
	snprintf(c->key, sizeof c->key, "id:%s", r->id);
	snprintf(c->sku, sizeof c->sku, "%s", r->sku);
	p->edit_error[0] = '\0';
	p->saving = true;
	tui_task(t, change_run, change_done, c);
	return RD_VIEW;
}

static bool products_capture(struct tui *t, struct view *v)
{
	(void)t;
	struct pstate *p = v->priv;
	return p->editing;
}

static int products_input(struct tui *t, struct view *v, wint_t ch, bool is_key)
{
	struct pstate *p = v->priv;
	if (p->saving)
		return RD_NONE;     /* the save decides; keys wait */
	switch (edit_key(&p->edit, ch, is_key)) {
	case EDIT_ACCEPT:
		return edit_save(t, p);
	case EDIT_CANCEL:
		p->editing = false;
		p->edit_error[0] = '\0';
		tui_status(t, UI_INFO, "edit cancelled");
		return RD_ALL;
	default:
		return RD_VIEW;
	}
}

static bool products_dirty(struct tui *t, struct view *v)
{
	(void)t;
	struct pstate *p = v->priv;
	return p->editing;
}

/* ---- forms and prompts ---- */

static int new_submit(struct tui *t, void *arg, char *const *values, struct acme_err *err)
{
	struct pstate *p = arg;
	struct change *c = change_new(t, p, CH_CREATE);
	static const enum product_field fields[] = {
		PRODUCT_SKU, PRODUCT_NAME, PRODUCT_DESCRIPTION, PRODUCT_PRICE, PRODUCT_ACTIVE,
	};
	for (size_t i = 0; i < 5; i++) {
		if (i >= 2 && !values[i][0])
			continue;     /* optional */
		if (products_input_set(&c->in, fields[i], values[i], strlen(values[i]), err) < 0) {
			change_free(c);
			return -1;
		}
	}
	snprintf(c->sku, sizeof c->sku, "%s", values[0]);
	c->form = tui_form_current(t);
	tui_task(t, change_run, change_done, c);
	return 1;
}

static int filter_submit(struct tui *t, void *arg, char *const *values, struct acme_err *err)
{
	struct pstate *p = arg;
	(void)err;
	set_str(&p->f.sku, values[0]);
	set_str(&p->f.name, values[1]);
	set_str(&p->f.description, values[2]);
	p->f.active = strcmp(values[3], "active") == 0 ? 1 : strcmp(values[3], "inactive") == 0 ? 0 : -1;
	requery(t, p, false);
	return 0;
}

static int query_change(struct tui *t, void *arg, const char *text)
{
	struct pstate *p = arg;
	set_str(&p->f.query, text);
	requery(t, p, false);
	return RD_VIEW;
}

static int query_accept(struct tui *t, void *arg, const char *text)
{
	struct pstate *p = arg;
	(void)t;
	(void)text;
	free(p->saved_query);
	p->saved_query = NULL;
	return RD_ALL;
}

static int query_cancel(struct tui *t, void *arg)
{
	struct pstate *p = arg;
	set_str(&p->f.query, p->saved_query);
	free(p->saved_query);
	p->saved_query = NULL;
	requery(t, p, false);
	return RD_ALL;
}

static const struct prompt_ops query_ops = { query_change, query_accept, query_cancel, NULL };

static int products_filter_cmd(struct tui *t, struct view *v, const char *text)
{
	struct pstate *p = v->priv;
	set_str(&p->f.query, text);
	requery(t, p, false);
	return 0;
}

static int products_sort_cmd(struct tui *t, struct view *v, const char *spec)
{
	struct pstate *p = v->priv;
	struct acme_err err = { 0 };
	enum products_sort s;
	bool desc = false;
	if (products_sort_parse(spec, &s, &desc, &err) < 0) {
		tui_status(t, UI_ERROR, "%s", err.msg);
		return -1;
	}
	p->sort = s;
	p->desc = desc;
	requery(t, p, false);
	return 0;
}

/* ---- keys ---- */

static int products_key(struct tui *t, struct view *v, enum tui_action a)
{
	struct pstate *p = v->priv;
	int visible = p->limit;
	switch (a) {
	case ACT_UP:
		if (p->sel > 0) {
			p->sel--;
			return RD_VIEW;
		}
		return page_back(t, p, true);
	case ACT_DOWN:
		if (p->sel + 1 < p->nrows) {
			p->sel++;
			return RD_VIEW;
		}
		return page_forward(t, p);
	case ACT_PAGE_DOWN:
		if (p->sel + 1 < p->nrows && !p->next_cursor && !p->reverse) {
			p->sel = p->nrows - 1;
			return RD_VIEW;
		}
		return page_forward(t, p) | RD_VIEW;
	case ACT_PAGE_UP:
		if (page_back(t, p, false) == RD_NONE && p->sel > 0)
			p->sel = 0;
		return RD_VIEW;
	case ACT_FIRST:
		requery(t, p, false);
		p->due = t->now;
		p->count_due = p->total < 0;
		return RD_VIEW;
	case ACT_LAST:
		requery(t, p, true);
		p->due = t->now;
		p->count_due = p->total < 0;
		return RD_VIEW;
	case ACT_LEFT:
		if (p->col > 0)
			p->col--;
		return RD_VIEW;
	case ACT_RIGHT:
		if (p->col + 1 < C__COUNT)
			p->col++;
		return RD_VIEW;
	case ACT_ENTER:
		p->details = p->nrows > 0;
		return RD_VIEW;
	case ACT_ESCAPE:
		p->details = false;
		return RD_VIEW;
	case ACT_REFRESH:
		p->count_due = true;
		reload(t, p);
		tui_status(t, UI_INFO, "refreshing products");
		return RD_VIEW;
	case ACT_FILTER:
		free(p->saved_query);
		p->saved_query = dup_or_null(p->f.query);
		tui_prompt(t, "/", p->f.query ? p->f.query : "", &query_ops, p);
		return RD_ALL;
	case ACT_FILTER_FORM: {
		const char *act = p->f.active == 1 ? "active" : p->f.active == 0 ? "inactive" : "any";
		struct form_field ff[] = {
			{ "SKU (ABC*)", p->f.sku ? p->f.sku : "", NULL },
			{ "Name has", p->f.name ? p->f.name : "", NULL },
			{ "Description", p->f.description ? p->f.description : "", NULL },
			{ "Active", act, "any|active|inactive" },
		};
		tui_form(t, "Filter products", ff, 4, filter_submit, p);
		return RD_ALL;
	}
	case ACT_SORT: {
		enum products_sort s;
		switch (p->col) {
		case C_SKU: s = PRODUCTS_SORT_SKU; break;
		case C_NAME: s = PRODUCTS_SORT_NAME; break;
		case C_PRICE: s = PRODUCTS_SORT_PRICE; break;
		case C_UPDATED: s = PRODUCTS_SORT_UPDATED_AT; break;
		default:
			tui_status(t, UI_ERROR,
				   "cannot sort by %s; sortable columns: SKU, Name, Price, Updated",
				   col_title[p->col]);
			return RD_STATUS;
		}
		p->desc = p->sort == s ? !p->desc : false;
		p->sort = s;
		requery(t, p, false);
		p->due = t->now;
		return RD_VIEW;
	}
	case ACT_EDIT: {
		if (p->sel >= p->nrows)
			return RD_NONE;
		if (col_field[p->col] < 0) {
			tui_status(t, UI_ERROR, "%s is not editable", col_title[p->col]);
			return RD_STATUS;
		}
		char buf[64];
		p->editing = true;
		p->edit_error[0] = '\0';
		edit_set(&p->edit, cell(&p->rows[p->sel], p->col, buf, sizeof buf));
		tui_status(t, UI_INFO, "editing %s of %s: Enter saves, Esc cancels",
			   col_title[p->col], p->rows[p->sel].sku);
		return RD_ALL;
	}
	case ACT_NEW: {
		struct form_field ff[] = {
			{ "SKU", "", NULL }, { "Name", "", NULL }, { "Description", "", NULL },
			{ "Price", "", NULL }, { "Active", "yes", "yes|no" },
		};
		tui_form(t, "New product", ff, 5, new_submit, p);
		return RD_ALL;
	}
	case ACT_DELETE: {
		if (p->sel >= p->nrows)
			return RD_NONE;
		char q[512];
		snprintf(q, sizeof q, "delete product %s (%s)?", p->rows[p->sel].sku,
			 p->rows[p->sel].name);
		tui_confirm(t, q, delete_answer, p);
		return RD_ALL;
	}
	case ACT_BULK_DELETE: {
		struct change *c = change_new(t, p, CH_COUNT);
		copy_filter(c, p);
		tui_status(t, UI_INFO, "counting the products the filter matches...");
		tui_task(t, change_run, change_done, c);
		return RD_STATUS;
	}
	default:
		(void)visible;
		return RD_NONE;
	}
}

static int products_click(struct tui *t, struct view *v, int row, int col)
{
	(void)t;
	(void)col;
	struct pstate *p = v->priv;
	int i = row - 2;          /* the summary and header lines */
	if (i >= 0 && (size_t)i < p->nrows && !p->editing) {
		p->sel = (size_t)i;
		return RD_VIEW;
	}
	return RD_NONE;
}

static int products_open(struct tui *t, struct view *v)
{
	struct pstate *p = xcalloc(1, sizeof *p);
	v->priv = p;
	slot_init(&p->list, t, SLOT_PG, "products", list_done, p);
	slot_init(&p->count, t, SLOT_PG, "products count", count_done, p);
	p->f.active = -1;
	p->sort = PRODUCTS_SORT_SKU;
	p->total = -1;
	p->limit = 20;
	requery(t, p, false);
	p->due = t->now;
	return 0;
}

static void products_close(struct tui *t, struct view *v)
{
	struct pstate *p = v->priv;
	(void)t;
	p->gen++;                 /* whatever is in flight is abandoned */
	if (slot_busy(&p->count))
		p->count_due = true;
	slot_release(&p->list);
	slot_release(&p->count);
	inflight_free(p);
	for (size_t i = 0; i < p->nrows; i++)
		prow_free(&p->rows[i]);
	for (size_t i = 0; i < p->cap; i++)
		free(p->cursors[i]);
	free(p->cursors);
	free(p->offsets);
	free(p->next_cursor);
	free(p->f.query);
	free(p->f.sku);
	free(p->f.name);
	free(p->f.description);
	free(p->saved_query);
	free(p);
	v->priv = NULL;
}

static void products_describe(struct tui *t, struct view *v, char *buf, size_t n)
{
	(void)t;
	struct pstate *p = v->priv;
	snprintf(buf, n, "loaded=%d current=%d rows=%zu total=%lld query=%s", p->loaded,
		 p->list_gen == p->gen && !slot_busy(&p->list) && !p->due, p->nrows, p->total,
		 p->f.query ? p->f.query : "");
}

const struct view_ops view_products = {
	.name = "Products",
	.tab = TAB_PRODUCTS,
	.open = products_open,
	.close = products_close,
	.draw = products_draw,
	.key = products_key,
	.capture = products_capture,
	.input = products_input,
	.tick = products_tick,
	.filter = products_filter_cmd,
	.sort = products_sort_cmd,
	.dirty = products_dirty,
	.click = products_click,
	.describe = products_describe,
};
