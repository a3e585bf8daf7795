/* test_confirm.c — the one confirmation policy (core/confirm.h), every case
 * of its table. Regression (issue 11, point 9): each command decided alone, so
 * dev down --purge never asked, products took a typed environment name in
 * production where jobs, webhooks and migrate refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/confirm.h"

static struct confirm_plan decide(enum confirm_kind kind, bool yes, bool tty, bool prod,
				  long long count)
{
	struct confirm_facts f = { kind, yes, tty, prod, prod ? "production" : "test", count };
	struct confirm_plan p;
	enum confirm_decision d = confirm_decide(&f, &p);
	assert_int_equal(d, p.decision);
	return p;
}

static void test_yes_always_proceeds(void **state)
{
	(void)state;
	for (int k = CONFIRM_NAMED; k <= CONFIRM_BULK; k++)
		for (int tty = 0; tty < 2; tty++)
			for (int prod = 0; prod < 2; prod++)
				assert_int_equal(decide(k, true, tty, prod, 5).decision, CONFIRM_PROCEED);
}

static void test_no_terminal_refuses(void **state)
{
	(void)state;
	assert_int_equal(decide(CONFIRM_DESTRUCTIVE, false, false, false, 0).decision, CONFIRM_REFUSE);
	assert_int_equal(decide(CONFIRM_BULK, false, false, false, 3).decision, CONFIRM_REFUSE);
	assert_int_equal(decide(CONFIRM_NAMED, false, false, true, 0).decision, CONFIRM_REFUSE);
	/* a named thing outside production: naming it was the confirmation */
	assert_int_equal(decide(CONFIRM_NAMED, false, false, false, 0).decision, CONFIRM_PROCEED);
	assert_int_equal(decide(CONFIRM_NAMED, false, true, false, 0).decision, CONFIRM_PROCEED);
}

static void test_terminal_asks(void **state)
{
	(void)state;
	struct confirm_plan p = decide(CONFIRM_DESTRUCTIVE, false, true, false, 0);
	assert_int_equal(p.decision, CONFIRM_ASK);
	assert_true(p.yes_no);
	assert_string_equal(p.count, "");
	p = decide(CONFIRM_BULK, false, true, false, 42);
	assert_int_equal(p.decision, CONFIRM_ASK);
	assert_false(p.yes_no);
	assert_string_equal(p.count, "42");
	assert_string_equal(p.env, "");
	p = decide(CONFIRM_BULK, false, true, true, 42);
	assert_string_equal(p.count, "42");
	assert_string_equal(p.env, "production");
	p = decide(CONFIRM_DESTRUCTIVE, false, true, true, 0);
	assert_false(p.yes_no);
	assert_string_equal(p.env, "production");
	p = decide(CONFIRM_NAMED, false, true, true, 0);
	assert_int_equal(p.decision, CONFIRM_ASK);
	assert_string_equal(p.env, "production");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_yes_always_proceeds),
		cmocka_unit_test(test_no_terminal_refuses),
		cmocka_unit_test(test_terminal_asks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
