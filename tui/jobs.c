/* jobs.c — the Jobs tab. (Being written: this placeholder only draws a line.) */
#include "tui/tui.h"

static void jobs_draw(struct tui *t, struct view *v, int y, int h, int w)
{
	(void)t; (void)v; (void)h;
	ui_text(y, 1, w - 2, "Jobs: not built yet", UI_DIM, false);
}

static int jobs_key(struct tui *t, struct view *v, enum tui_action a)
{
	(void)t; (void)v; (void)a;
	return RD_NONE;
}

const struct view_ops view_jobs = {
	.name = "Jobs",
	.tab = TAB_JOBS,
	.draw = jobs_draw,
	.key = jobs_key,
};
