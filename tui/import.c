/* import.c — the Import tab. (Being written: this placeholder only draws a line.) */
#include "tui/tui.h"

static void import_draw(struct tui *t, struct view *v, int y, int h, int w)
{
	(void)t; (void)v; (void)h;
	ui_text(y, 1, w - 2, "Import: not built yet", UI_DIM, false);
}

static int import_key(struct tui *t, struct view *v, enum tui_action a)
{
	(void)t; (void)v; (void)a;
	return RD_NONE;
}

const struct view_ops view_import = {
	.name = "Import",
	.tab = TAB_IMPORT,
	.draw = import_draw,
	.key = import_key,
};

int tui_import_start(struct tui *t, const char *path)
{
	tui_status(t, UI_ERROR, "import %s: not built yet", path);
	return -1;
}
