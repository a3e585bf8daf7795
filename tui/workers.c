/* workers.c — the Workers tab. (Being written: this placeholder only draws a line.) */
#include "tui/tui.h"

static void workersv_draw(struct tui *t, struct view *v, int y, int h, int w)
{
	(void)t; (void)v; (void)h;
	ui_text(y, 1, w - 2, "Workers: not built yet", UI_DIM, false);
}

static int workersv_key(struct tui *t, struct view *v, enum tui_action a)
{
	(void)t; (void)v; (void)a;
	return RD_NONE;
}

const struct view_ops view_workers = {
	.name = "Workers",
	.tab = TAB_WORKERS,
	.draw = workersv_draw,
	.key = workersv_key,
};
