/* confirm.c — the confirmation policy (the table is in confirm.h): a pure
 * function of --yes, the terminal, the environment and the count, so every
 * destructive verb asks the same way and a unit test can check every case.
 */
#include <stdio.h>
#include <string.h>

#include "core/confirm.h"

enum confirm_decision confirm_decide(const struct confirm_facts *f, struct confirm_plan *p)
{
	memset(p, 0, sizeof(*p));
	if (f->yes || (f->kind == CONFIRM_NAMED && !f->production)) {
		p->decision = CONFIRM_PROCEED;
		return p->decision;
	}
	if (!f->tty) {
		p->decision = CONFIRM_REFUSE;
		return p->decision;
	}
	p->decision = CONFIRM_ASK;
	if (f->kind == CONFIRM_BULK)
		snprintf(p->count, sizeof(p->count), "%lld", f->count);
	if (f->production)
		snprintf(p->env, sizeof(p->env), "%s", f->env ? f->env : "production");
	p->yes_no = !p->count[0] && !p->env[0];
	return p->decision;
}
