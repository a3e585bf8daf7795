/* ui.c — the one module that talks to ncurses for drawing.
 *
 * Views draw through ui_text() and friends: text is UTF-8 measured with
 * wcwidth (CJK counts two columns, combining marks none, an invalid byte
 * one, shown as '?'), clipped to the width it is given without splitting a
 * wide character, in one of a handful of styles. Colours are used when the
 * terminal has them and NO_COLOR is unset; without them every style maps to
 * plain attributes (reverse for the selection, bold for titles), so
 * TERM=dumb and NO_COLOR=1 lose nothing but colour.
 */
#include <curses.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

#include "tui/tui.h"

static attr_t style_attr[UI__COUNT];

/* Called by app.c after initscr(). */
void ui_init_styles(bool color);
void ui_init_styles(bool color)
{
	static const struct { short fg, bg; attr_t extra; } pal[UI__COUNT] = {
		[UI_NORMAL]        = { -1, -1, 0 },
		[UI_DIM]           = { -1, -1, A_DIM },
		[UI_BOLD]          = { -1, -1, A_BOLD },
		[UI_HEADER]        = { COLOR_CYAN, -1, A_BOLD },
		[UI_SELECTED]      = { COLOR_BLACK, COLOR_CYAN, 0 },
		[UI_SELECTED_CELL] = { COLOR_BLACK, COLOR_YELLOW, A_BOLD },
		[UI_TITLE]         = { COLOR_WHITE, COLOR_BLUE, A_BOLD },
		[UI_TITLE_PROD]    = { COLOR_WHITE, COLOR_RED, A_BOLD },
		[UI_OK]            = { COLOR_GREEN, -1, 0 },
		[UI_WARN]          = { COLOR_YELLOW, -1, A_BOLD },
		[UI_ERROR]         = { COLOR_RED, -1, A_BOLD },
		[UI_INFO]          = { COLOR_CYAN, -1, 0 },
		[UI_BAR]           = { COLOR_BLACK, COLOR_GREEN, 0 },
	};
	static const attr_t mono[UI__COUNT] = {
		[UI_NORMAL] = A_NORMAL, [UI_DIM] = A_DIM, [UI_BOLD] = A_BOLD,
		[UI_HEADER] = A_BOLD | A_UNDERLINE, [UI_SELECTED] = A_REVERSE,
		[UI_SELECTED_CELL] = A_REVERSE | A_BOLD | A_UNDERLINE, [UI_TITLE] = A_REVERSE,
		[UI_TITLE_PROD] = A_REVERSE | A_BOLD, [UI_OK] = A_NORMAL, [UI_WARN] = A_BOLD,
		[UI_ERROR] = A_BOLD, [UI_INFO] = A_NORMAL, [UI_BAR] = A_REVERSE,
	};
	if (color && has_colors()) {
		start_color();
		use_default_colors();
		for (int i = 0; i < UI__COUNT; i++) {
			init_pair((short)(i + 1), pal[i].fg, pal[i].bg);
			style_attr[i] = COLOR_PAIR(i + 1) | pal[i].extra;
		}
	} else {
		for (int i = 0; i < UI__COUNT; i++)
			style_attr[i] = mono[i];
	}
}

/* Decode one UTF-8 character of s (at most n bytes). Returns its length
 * (an invalid byte: 1, with *wc = L'?' and *w = 1). */
static size_t next_char(const char *s, size_t n, wchar_t *wc, int *w)
{
	mbstate_t st;
	memset(&st, 0, sizeof st);
	size_t len = mbrtowc(wc, s, n, &st);
	if (len == (size_t)-1 || len == (size_t)-2 || len == 0) {
		*wc = L'?';
		*w = 1;
		return 1;
	}
	int cw = wcwidth(*wc);
	if (cw < 0) {           /* a control or unprintable character */
		*wc = L'?';
		cw = 1;
	}
	*w = cw;
	return len;
}

int ui_width(const char *s)
{
	int cols = 0;
	size_t n = strlen(s);
	while (n) {
		wchar_t wc;
		int w;
		size_t len = next_char(s, n, &wc, &w);
		cols += w;
		s += len;
		n -= len;
	}
	return cols;
}

int ui_text(int y, int x, int width, const char *s, enum ui_style st, bool pad)
{
	if (width <= 0)
		return 0;
	attr_t a = style_attr[st];
	int used = 0;
	size_t n = s ? strlen(s) : 0;
	move(y, x);
	while (n) {
		wchar_t wc[2] = { 0, 0 };
		int w;
		size_t len = next_char(s, n, &wc[0], &w);
		if (wc[0] == L'\n' || wc[0] == L'\t')
			wc[0] = L' ';
		if (used + w > width)
			break;
		cchar_t cc;
		if (setcchar(&cc, wc, a, 0, NULL) == OK) {
			if (w == 0 && used == 0) {
				/* a combining mark with nothing to sit on */
				s += len;
				n -= len;
				continue;
			}
			/* (a combining mark: ncurses joins it to the previous cell) */
			add_wch(&cc);
		}
		used += w;
		s += len;
		n -= len;
	}
	if (pad && used < width) {
		attrset(a);
		for (int i = used; i < width; i++)
			addch(' ');
		attrset(A_NORMAL);
		used = width;
	}
	return used;
}

int ui_textf(int y, int x, int width, enum ui_style st, bool pad, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return ui_text(y, x, width, buf, st, pad);
}

void ui_text_right(int y, int x, int width, const char *s, enum ui_style st)
{
	int w = ui_width(s);
	if (w >= width) {
		ui_text(y, x, width, s, st, true);
		return;
	}
	ui_text(y, x + width - w, w, s, st, false);
}

void ui_fill(int y, int x, int width, enum ui_style st)
{
	ui_text(y, x, width, "", st, true);
}

void ui_bar(int y, int x, int width, double frac, enum ui_style st)
{
	if (width <= 0)
		return;
	if (frac < 0)
		frac = 0;
	if (frac > 1)
		frac = 1;
	int full = (int)(frac * width + 0.5);
	/* '#' and '.' so the bar reads without colour too (NO_COLOR, a capture) */
	move(y, x);
	attrset(style_attr[st]);
	for (int i = 0; i < full; i++)
		addch('#');
	attrset(style_attr[UI_DIM]);
	for (int i = full; i < width; i++)
		addch('.');
	attrset(A_NORMAL);
}

void ui_cursor(int y, int x, bool show)
{
	if (show)
		move(y, x);
	curs_set(show ? 1 : 0);
}

struct ui_size ui_size(void)
{
	struct ui_size sz = { LINES, COLS };
	return sz;
}
