/* webhooks.c — the Webhooks tab. (Being written: this placeholder only draws a line.) */
#include "tui/tui.h"

static void webhooks_draw(struct tui *t, struct view *v, int y, int h, int w)
{
	(void)t; (void)v; (void)h;
	ui_text(y, 1, w - 2, "Webhooks: not built yet", UI_DIM, false);
}

static int webhooks_key(struct tui *t, struct view *v, enum tui_action a)
{
	(void)t; (void)v; (void)a;
	return RD_NONE;
}

const struct view_ops view_webhooks = {
	.name = "Webhooks",
	.tab = TAB_WEBHOOKS,
	.draw = webhooks_draw,
	.key = webhooks_key,
};
