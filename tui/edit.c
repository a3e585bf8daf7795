/* edit.c — a one-line editor for prompts, forms and inline cell edits:
 * UTF-8 text in a fixed buffer (EDIT_MAX bytes: input is bounded), a cursor
 * that moves by whole characters, the usual readline keys (Ctrl-A/E/U/K/W,
 * Backspace, Delete, Home, End, Left, Right). The caller decides what Enter,
 * Esc and Tab mean from the result.
 */
#include <curses.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "tui/tui.h"

void edit_set(struct lineedit *e, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n >= sizeof e->buf)
		n = sizeof e->buf - 1;
	memcpy(e->buf, s ? s : "", n);
	e->buf[n] = '\0';
	e->len = e->cur = n;
}

static size_t prev_char(const struct lineedit *e, size_t at)
{
	if (at == 0)
		return 0;
	at--;
	while (at > 0 && ((unsigned char)e->buf[at] & 0xC0) == 0x80)
		at--;
	return at;
}

static size_t next_char(const struct lineedit *e, size_t at)
{
	if (at >= e->len)
		return e->len;
	at++;
	while (at < e->len && ((unsigned char)e->buf[at] & 0xC0) == 0x80)
		at++;
	return at;
}

static void cut(struct lineedit *e, size_t from, size_t to)
{
	memmove(e->buf + from, e->buf + to, e->len - to + 1);
	e->len -= to - from;
	e->cur = from;
}

enum edit_result edit_key(struct lineedit *e, wint_t ch, bool is_key)
{
	if (is_key) {
		switch (ch) {
		case KEY_ENTER: return EDIT_ACCEPT;
		case KEY_BACKSPACE:
			if (e->cur == 0)
				return EDIT_NONE;
			cut(e, prev_char(e, e->cur), e->cur);
			return EDIT_CHANGED;
		case KEY_DC:
			if (e->cur >= e->len)
				return EDIT_NONE;
			cut(e, e->cur, next_char(e, e->cur));
			return EDIT_CHANGED;
		case KEY_LEFT: e->cur = prev_char(e, e->cur); return EDIT_MOVED;
		case KEY_RIGHT: e->cur = next_char(e, e->cur); return EDIT_MOVED;
		case KEY_HOME: e->cur = 0; return EDIT_MOVED;
		case KEY_END: e->cur = e->len; return EDIT_MOVED;
		case KEY_UP: return EDIT_UP;
		case KEY_DOWN: return EDIT_DOWN;
		case KEY_BTAB: return EDIT_BACKTAB;
		default: return EDIT_NONE;
		}
	}
	switch (ch) {
	case '\r': case '\n': return EDIT_ACCEPT;
	case 27: return EDIT_CANCEL;
	case '\t': return EDIT_TAB;
	case 127: case 8:
		if (e->cur == 0)
			return EDIT_NONE;
		cut(e, prev_char(e, e->cur), e->cur);
		return EDIT_CHANGED;
	case 1: e->cur = 0; return EDIT_MOVED;          /* Ctrl-A */
	case 5: e->cur = e->len; return EDIT_MOVED;     /* Ctrl-E */
	case 21: cut(e, 0, e->cur); return EDIT_CHANGED;         /* Ctrl-U */
	case 11: e->buf[e->cur] = '\0'; e->len = e->cur; return EDIT_CHANGED; /* Ctrl-K */
	case 23: {                                       /* Ctrl-W */
		size_t at = e->cur;
		while (at > 0 && e->buf[at - 1] == ' ')
			at--;
		while (at > 0 && e->buf[at - 1] != ' ')
			at--;
		cut(e, at, e->cur);
		return EDIT_CHANGED;
	}
	default:
		break;
	}
	if (ch < 32 || ch == 127)
		return EDIT_NONE;
	char mb[MB_LEN_MAX];
	mbstate_t st;
	memset(&st, 0, sizeof st);
	size_t n = wcrtomb(mb, (wchar_t)ch, &st);
	if (n == (size_t)-1 || e->len + n >= sizeof e->buf)
		return EDIT_NONE;
	memmove(e->buf + e->cur + n, e->buf + e->cur, e->len - e->cur + 1);
	memcpy(e->buf + e->cur, mb, n);
	e->len += n;
	e->cur += n;
	return EDIT_CHANGED;
}

void edit_draw(const struct lineedit *e, int y, int x, int width, enum ui_style st, bool focus)
{
	if (width <= 0)
		return;
	/* Scroll so the cursor stays visible: drop whole characters from the
	 * left until the text before the cursor fits. */
	char before[EDIT_MAX];
	memcpy(before, e->buf, e->cur);
	before[e->cur] = '\0';
	size_t start = 0;
	while (ui_width(before + start) > width - 1 && start < e->cur) {
		start++;
		while (start < e->cur && ((unsigned char)before[start] & 0xC0) == 0x80)
			start++;
	}
	ui_text(y, x, width, e->buf + start, st, true);
	if (focus)
		ui_cursor(y, x + ui_width(before + start), true);
}

/* Path completion reads the directory with opendir: the local file system,
 * never the network. At most COMPLETE_SCAN entries are looked at. */
#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>
#define COMPLETE_SCAN 10000

int edit_complete_path(struct lineedit *e, char *msg, size_t msgsz)
{
	char word[EDIT_MAX];
	memcpy(word, e->buf, e->cur);
	word[e->cur] = '\0';
	/* ~/ is the home directory */
	char expanded[EDIT_MAX];
	const char *home = getenv("HOME");
	if (word[0] == '~' && word[1] == '/' && home)
		snprintf(expanded, sizeof expanded, "%s%s", home, word + 1);
	else
		snprintf(expanded, sizeof expanded, "%s", word);
	const char *slash = strrchr(expanded, '/');
	char dir[EDIT_MAX];
	const char *base;
	if (slash) {
		snprintf(dir, sizeof dir, "%.*s", (int)(slash - expanded + 1), expanded);
		base = slash + 1;
	} else {
		snprintf(dir, sizeof dir, ".");
		base = expanded;
	}
	DIR *d = opendir(dir);
	if (!d) {
		if (msg)
			snprintf(msg, msgsz, "cannot read %s", dir);
		return 0;
	}
	size_t blen = strlen(base);
	char common[256] = "";
	bool have = false;
	int matches = 0, scanned = 0;
	char shown[256] = "";
	struct dirent *de;
	while ((de = readdir(d)) && scanned++ < COMPLETE_SCAN) {
		if (strncmp(de->d_name, base, blen) != 0)
			continue;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_name[0] == '.' && blen == 0)
			continue;
		matches++;
		if (strlen(shown) + strlen(de->d_name) + 2 < sizeof shown) {
			if (shown[0])
				strcat(shown, "  ");
			strcat(shown, de->d_name);
		}
		if (!have) {
			snprintf(common, sizeof common, "%s", de->d_name);
			have = true;
		} else {
			size_t i = 0;
			while (common[i] && common[i] == de->d_name[i])
				i++;
			common[i] = '\0';
		}
	}
	closedir(d);
	if (!matches) {
		if (msg)
			snprintf(msg, msgsz, "no file matches \"%s\"", word);
		return 0;
	}
	/* the text to add after what was typed */
	char add[512];
	snprintf(add, sizeof add, "%s", common + blen);
	if (matches == 1) {
		char full[EDIT_MAX];
		snprintf(full, sizeof full, "%s%s", dir[0] == '.' && !slash ? "" : dir, common);
		struct stat st;
		size_t al = strlen(add);
		if (stat(full, &st) == 0 && S_ISDIR(st.st_mode) && al + 1 < sizeof add)
			strcat(add, "/");
	} else if (msg) {
		snprintf(msg, msgsz, "%d files: %s", matches, shown);
	}
	size_t n = strlen(add);
	if (n && e->len + n < sizeof e->buf) {
		memmove(e->buf + e->cur + n, e->buf + e->cur, e->len - e->cur + 1);
		memcpy(e->buf + e->cur, add, n);
		e->len += n;
		e->cur += n;
	}
	return matches;
}
