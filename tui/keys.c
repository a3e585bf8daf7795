/* keys.c — every key of the TUI in one table. The loop looks keys up here,
 * the `?` screen lists it, and `acmectl tui --keys=man` prints it as the key
 * table of acmectl-tui(1) in mdoc (t6105 checks the page agrees: `make
 * man-keys` rewrites it). To add a key, add
 * a line: an action from TUI_ACTIONS in tui.h, where it applies, and its
 * help; then handle the action in the view's key callback.
 */
#include <curses.h>
#include <stdio.h>
#include <string.h>

#include "tui/tui.h"

#define CTRL(c) ((c) & 0x1f)
#define P IN_TAB(TAB_PRODUCTS)
#define I IN_TAB(TAB_IMPORT)
#define W IN_TAB(TAB_WEBHOOKS)
#define J IN_TAB(TAB_JOBS)
#define K IN_TAB(TAB_WORKERS)

const struct tui_key tui_keys[] = {
	/* everywhere */
	{ '1', "1", ACT_TAB_1, IN_ALL, "Products tab" },
	{ '2', "2", ACT_TAB_2, IN_ALL, "Import tab" },
	{ '3', "3", ACT_TAB_3, IN_ALL, "Webhooks tab" },
	{ '4', "4", ACT_TAB_4, IN_ALL, "Jobs tab" },
	{ '5', "5", ACT_TAB_5, IN_ALL, "Workers tab" },
	{ '\t', "Tab", ACT_TAB_NEXT, IN_ALL, "next tab" },
	{ KEY_BTAB, "Shift-Tab", ACT_TAB_PREV, IN_ALL, "previous tab" },
	{ '?', "?", ACT_HELP, IN_ALL, "this help" },
	{ ':', ":", ACT_COMMAND, IN_ALL,
	  "command line: :import PATH, :filter TEXT, :sort FIELD[:desc], :q" },
	{ 'q', "q", ACT_QUIT, IN_ALL, "quit (asks when an edit is unsaved)" },
	{ CTRL('l'), "Ctrl-L", ACT_REDRAW, IN_ALL, "redraw the screen" },
	{ 'r', "r", ACT_REFRESH, IN_ALL, "refresh the current tab" },
	{ KEY_UP, "Up", ACT_UP, IN_ALL, "previous row" },
	{ 'k', "k", ACT_UP, IN_ALL, NULL },
	{ KEY_DOWN, "Down", ACT_DOWN, IN_ALL, "next row" },
	{ 'j', "j", ACT_DOWN, IN_ALL, NULL },
	{ KEY_PPAGE, "PgUp", ACT_PAGE_UP, IN_ALL, "previous page" },
	{ KEY_NPAGE, "PgDn", ACT_PAGE_DOWN, IN_ALL, "next page" },
	{ 'g', "g", ACT_FIRST, IN_ALL, "first row" },
	{ KEY_HOME, "Home", ACT_FIRST, IN_ALL, NULL },
	{ 'G', "G", ACT_LAST, IN_ALL, "last row" },
	{ KEY_END, "End", ACT_LAST, IN_ALL, NULL },
	{ KEY_LEFT, "Left", ACT_LEFT, IN_ALL, "previous column" },
	{ 'h', "h", ACT_LEFT, IN_ALL, NULL },
	{ KEY_RIGHT, "Right", ACT_RIGHT, IN_ALL, "next column" },
	{ 'l', "l", ACT_RIGHT, IN_ALL, NULL },
	{ '\n', "Enter", ACT_ENTER, IN_ALL, "details of the selected row" },
	{ '\r', "Enter", ACT_ENTER, IN_ALL, NULL },
	{ KEY_ENTER, "Enter", ACT_ENTER, IN_ALL, NULL },
	{ 27, "Esc", ACT_ESCAPE, IN_ALL, "close whatever is open" },
	/* Products */
	{ '/', "/", ACT_FILTER, P, "filter as you type (SKU prefix, name or description)" },
	{ 'f', "f", ACT_FILTER_FORM, P, "structured filter: sku, name, description, active" },
	{ 's', "s", ACT_SORT, P, "sort by the selected column (again: descending)" },
	{ 'e', "e", ACT_EDIT, P, "edit the selected cell (Enter saves, Esc cancels)" },
	{ 'n', "n", ACT_NEW, P, "new product" },
	{ 'd', "d", ACT_DELETE, P, "delete the selected product (y/n)" },
	{ 'D', "D", ACT_BULK_DELETE, P, "delete every product the filter matches (type the count)" },
	/* Import */
	{ 'i', "i", ACT_IMPORT, I, "choose a file and import it (Tab completes the path)" },
	{ 'o', "o", ACT_OPT_DELIM, I, "delimiter: auto, comma, semicolon, tab, pipe" },
	{ 'S', "S", ACT_OPT_STRICT, I, "strict: any rejected row fails the import" },
	{ 'y', "y", ACT_OPT_DRYRUN, I, "dry run: validate only, change nothing" },
	/* Webhooks */
	{ 'a', "a", ACT_ADD, W, "add an endpoint" },
	{ 'e', "e", ACT_EDIT, W, "edit the endpoint" },
	{ 'd', "d", ACT_DELETE, W, "delete the endpoint (y/n)" },
	{ ' ', "Space", ACT_TOGGLE, W, "enable or disable the endpoint" },
	{ 't', "t", ACT_TEST, W, "send a test event; the result appears in the row" },
	{ 'R', "R", ACT_REDELIVER, W, "redeliver the selected delivery" },
	/* Jobs */
	{ 'f', "f", ACT_FILTER_FORM, J, "filter by state, type and queue" },
	{ 'c', "c", ACT_CANCEL, J, "cancel the selected job (y/n)" },
	{ 'R', "R", ACT_REDELIVER, J, "retry the selected job" },
};
const size_t tui_nkeys = sizeof tui_keys / sizeof tui_keys[0];

static const char *const action_names[] = {
#define X(id, name) name,
	TUI_ACTIONS(X)
#undef X
};

const char *tui_action_name(enum tui_action a)
{
	return (unsigned)a < ACT__COUNT ? action_names[a] : "?";
}

enum tui_action tui_key_action(int key, enum tui_tab tab)
{
	enum tui_action global = ACT_NONE;
	for (size_t i = 0; i < tui_nkeys; i++) {
		if (tui_keys[i].key != key)
			continue;
		if (tui_keys[i].where == IN_ALL) {
			if (global == ACT_NONE)
				global = tui_keys[i].action;
		} else if (tui_keys[i].where & IN_TAB(tab)) {
			return tui_keys[i].action;
		}
	}
	return global;
}

static const char *const tab_names[TAB__COUNT] = {
	"Products", "Import", "Webhooks", "Jobs", "Workers",
};

void tui_keys_walk(void (*fn)(void *arg, const char *section, const char *labels,
				const char *help), void *arg)
{
	for (int section = -1; section < TAB__COUNT; section++) {
		const char *name = section < 0 ? "Everywhere" : tab_names[section];
		bool any = false;
		for (size_t i = 0; i < tui_nkeys && !any; i++)
			any = section < 0 ? tui_keys[i].where == IN_ALL
					  : (tui_keys[i].where & IN_TAB(section)) != 0;
		if (!any)
			continue;
		fn(arg, name, NULL, NULL);
		for (size_t i = 0; i < tui_nkeys; i++) {
			const struct tui_key *k = &tui_keys[i];
			bool here = section < 0 ? k->where == IN_ALL
						: (k->where & IN_TAB(section)) != 0;
			if (!here || !k->help)
				continue;
			/* the labels of this entry and the help-less lines after it */
			char labels[128];
			snprintf(labels, sizeof labels, "%s", k->label);
			for (size_t j = i + 1; j < tui_nkeys && !tui_keys[j].help; j++) {
				if (strstr(labels, tui_keys[j].label))
					continue;
				size_t len = strlen(labels);
				snprintf(labels + len, sizeof labels - len, ", %s", tui_keys[j].label);
			}
			fn(arg, name, labels, k->help);
		}
	}
}

struct print_arg { FILE *fp; bool roff, open; };

static void print_one(void *arg, const char *section, const char *labels, const char *help)
{
	struct print_arg *pa = arg;
	if (!labels) {
		if (pa->roff && pa->open)
			fputs(".El\n", pa->fp);
		if (pa->roff)
			fprintf(pa->fp, ".Ss %s\n.Bl -tag -width \"Shift-Tab\"\n", section);
		else
			fprintf(pa->fp, "%s%s\n", pa->open ? "\n" : "", section);
		pa->open = true;
		return;
	}
	if (pa->roff) {
		/* mdoc: no line may start with a dot or quote, none does here */
		fprintf(pa->fp, ".It Sy \"\\&%s\"\n%s\n", labels, help);
	} else {
		fprintf(pa->fp, "  %-18s %s\n", labels, help);
	}
}

void tui_keys_print(void *out, bool roff)
{
	struct print_arg pa = { out, roff, false };
	tui_keys_walk(print_one, &pa);
	if (roff && pa.open)
		fputs(".El\n", pa.fp);
}
