/* confirm.h — one policy for confirming what changes or destroys things
 * (issue 11, point 9). Every destructive verb asks it; none decides alone.
 *
 *   kind                 --yes     on a terminal                   no terminal
 *   CONFIRM_NAMED        proceed   proceed                         proceed
 *     (production)       proceed   type the environment name       refuse
 *   CONFIRM_DESTRUCTIVE  proceed   y/N                             refuse
 *     (production)       proceed   type the environment name       refuse
 *   CONFIRM_BULK         proceed   type the count                  refuse
 *     (production)       proceed   type the count, then the env    refuse
 *
 * NAMED is one thing the user named exactly (products delete SKU, jobs
 * cancel ID, webhooks rotate-secret ID): naming it is the confirmation,
 * except in production. DESTRUCTIVE cannot be undone (webhooks delete,
 * migrate down and baseline, dev down --purge). BULK removes many things
 * at once (products delete --all or by filter, jobs purge). "On a terminal"
 * means stdin and stderr both are. --dry-run changes nothing and needs no
 * confirmation: callers handle it first.
 *
 * Core never prints: confirm_decide() only says what to do; cmd/ prompts
 * (ctx_confirm_action in cmd/main.c) and refuses with ACME_E_REFUSED (exit 4).
 */
#ifndef ACME_CONFIRM_H
#define ACME_CONFIRM_H
#include <stdbool.h>

enum confirm_kind { CONFIRM_NAMED, CONFIRM_DESTRUCTIVE, CONFIRM_BULK };

enum confirm_decision {
	CONFIRM_PROCEED,   /* go on without asking */
	CONFIRM_ASK,       /* ask on the terminal, as struct confirm_plan says */
	CONFIRM_REFUSE,    /* no terminal to ask on and no --yes: refuse */
};

struct confirm_facts {
	enum confirm_kind kind;
	bool yes;            /* --yes was given */
	bool tty;            /* stdin and stderr are terminals */
	bool production;     /* ACME_ENV=production */
	const char *env;     /* the environment's name */
	long long count;     /* BULK: how many things would go */
};

struct confirm_plan {
	enum confirm_decision decision;
	/* with CONFIRM_ASK, what the user types, in this order; "" = not asked */
	char count[32];      /* the number of things */
	char env[64];        /* the environment's name */
	bool yes_no;         /* a plain y/N question (neither of the above) */
};

/* Decide; plan is filled. Returns plan->decision. */
enum confirm_decision confirm_decide(const struct confirm_facts *facts, struct confirm_plan *plan);

#endif
