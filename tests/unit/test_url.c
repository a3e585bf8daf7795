/* test_url.c — redaction of secrets in connection strings and Redis URL
 * parsing. Regression guard: a password must never survive url_redact(). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/url.h"

static void check_redact(const char *in, const char *want)
{
	char *got = url_redact(in);
	assert_string_equal(got, want);
	free(got);
}

static void test_redact_userinfo(void **state)
{
	(void)state;
	check_redact("postgresql://app:s3cret@db:5432/acme", "postgresql://app:***@db:5432/acme");
	check_redact("redis://:hunter2@cache:6379/0", "redis://:***@cache:6379/0");
	check_redact("redis://default:p%40ss@cache", "redis://default:***@cache");
	/* '@' inside the password: the last '@' before the path ends it */
	check_redact("postgres://u:a@b@host/db", "postgres://u:***@host/db");
	check_redact("postgresql://app@db/acme", "postgresql://app@db/acme");
	check_redact("unix:///run/redis.sock", "unix:///run/redis.sock");
	/* Regression (found by tests/fuzz/fuzz_url.c): '?' or '#' in a password
	 * ended the userinfo for the redactor but not for libpq or the Redis
	 * URL parser, so these URLs were shown with their password. */
	check_redact("postgresql://u:pa?ss@h/db", "postgresql://u:***@h/db");
	check_redact("redis://:pa#ss@h:6379", "redis://:***@h:6379");
	check_redact("unix://:p?w@/run/redis.sock?db=1", "unix://:***@/run/redis.sock?db=1");
}

static void test_redact_params(void **state)
{
	(void)state;
	check_redact("postgresql:///acme?host=/tmp&password=xyz&user=a",
		     "postgresql:///acme?host=/tmp&password=***&user=a");
	check_redact("host=db user=app password=secret dbname=acme",
		     "host=db user=app password=*** dbname=acme");
	check_redact("host=db password = 'it\\'s a secret' dbname=acme",
		     "host=db password = *** dbname=acme");
	check_redact("PASSWORD=abc", "PASSWORD=***");
	/* Regression (found by tests/fuzz/fuzz_url.c): libpq reads a\ b as
	 * "a b"; the redactor stopped at the blank and showed the rest. */
	check_redact("host=db password=se\\ cret dbname=acme", "host=db password=*** dbname=acme");
	/* a word merely containing "password" as a suffix of another key */
	check_redact("host=db mypassword=x", "host=db mypassword=x");
}

static void test_redis_parse(void **state)
{
	struct redis_url u;
	struct acme_err err;
	(void)state;

	assert_int_equal(redis_url_parse("redis://:pw@cache:6380/2", &u, &err), 0);
	assert_string_equal(u.host, "cache");
	assert_int_equal(u.port, 6380);
	assert_string_equal(u.password, "pw");
	assert_null(u.user);
	assert_int_equal(u.db, 2);
	redis_url_release(&u);

	assert_int_equal(redis_url_parse("redis://user:p%40ss@h", &u, &err), 0);
	assert_string_equal(u.user, "user");
	assert_string_equal(u.password, "p@ss");
	assert_int_equal(u.port, 6379);
	redis_url_release(&u);

	assert_int_equal(redis_url_parse("unix:///tmp/r.sock?db=3", &u, &err), 0);
	assert_string_equal(u.socket, "/tmp/r.sock");
	assert_int_equal(u.db, 3);
	redis_url_release(&u);

	assert_int_equal(redis_url_parse("redis://[::1]:7000", &u, &err), 0);
	assert_string_equal(u.host, "::1");
	assert_int_equal(u.port, 7000);
	redis_url_release(&u);

	assert_int_equal(redis_url_parse("redis://h:99999", &u, &err), -1);
	assert_int_equal(err.code, ACME_E_CONFIG);
	assert_int_equal(redis_url_parse("http://h", &u, &err), -1);
	assert_int_equal(redis_url_parse("rediss://:pw@h?tls_cafile=x", &u, &err), -1);
	assert_non_null(strstr(err.msg, "unknown option \"tls_cafile\""));
	assert_null(strstr(err.msg, "pw@"));       /* the message itself is redacted */
	assert_int_equal(redis_url_parse("unix://relative.sock", &u, &err), -1);

	/* a tls_ option needs rediss://; an option needs a value */
	assert_int_equal(redis_url_parse("redis://h?tls_ca=/ca.pem", &u, &err), -1);
	assert_non_null(strstr(err.msg, "use rediss://"));
	assert_int_equal(redis_url_parse("rediss://h?tls_insecure", &u, &err), -1);
	assert_int_equal(redis_url_parse("rediss://h?tls_insecure=maybe", &u, &err), -1);
	assert_int_equal(redis_url_parse("rediss://h?tls_ca=", &u, &err), -1);
}

static void test_redis_tls(void **state)
{
	struct redis_url u;
	struct acme_err err;
	(void)state;

	assert_int_equal(redis_url_parse("rediss://app:s3cret@cache.example:6380/4?tls_ca=/etc/ca%20x.pem"
					  "&tls_cert=/c.pem&tls_key=/k.pem&tls_server_name=redis.internal",
					  &u, &err), 0);
	assert_true(u.tls);
	assert_string_equal(u.host, "cache.example");
	assert_int_equal(u.port, 6380);
	assert_int_equal(u.db, 4);
	assert_string_equal(u.user, "app");
	assert_string_equal(u.password, "s3cret");
	assert_string_equal(u.tls_ca, "/etc/ca x.pem");
	assert_string_equal(u.tls_cert, "/c.pem");
	assert_string_equal(u.tls_key, "/k.pem");
	assert_string_equal(u.tls_server_name, "redis.internal");
	assert_int_equal(u.tls_insecure, -1);
	char *d = redis_url_describe(&u);
	assert_string_equal(d, "cache.example:6380 (TLS)");
	free(d);
	redis_url_release(&u);

	assert_int_equal(redis_url_parse("rediss://h?tls_insecure=1", &u, &err), 0);
	assert_int_equal(u.tls_insecure, 1);
	assert_int_equal(u.db, 0);
	assert_null(u.tls_ca);
	redis_url_release(&u);

	/* sentinels: the first that answers names the primary */
	assert_int_equal(redis_url_parse("redis+sentinel://app:pw@s1,s2:26380,[::1]:7/acme/3"
					  "?sentinel_password=sp", &u, &err), 0);
	assert_true(u.sentinel);
	assert_false(u.tls);
	assert_int_equal(u.nsentinels, 3);
	assert_string_equal(u.sentinels[0].host, "s1");
	assert_int_equal(u.sentinels[0].port, 26379);
	assert_string_equal(u.sentinels[1].host, "s2");
	assert_int_equal(u.sentinels[1].port, 26380);
	assert_string_equal(u.sentinels[2].host, "::1");
	assert_int_equal(u.sentinels[2].port, 7);
	assert_string_equal(u.master_name, "acme");
	assert_int_equal(u.db, 3);
	assert_string_equal(u.user, "app");
	assert_string_equal(u.password, "pw");
	assert_string_equal(u.sentinel_password, "sp");
	d = redis_url_describe(&u);
	assert_string_equal(d, "primary \"acme\" of sentinel s1:26379,s2:26380,::1:7");
	free(d);
	redis_url_release(&u);
	assert_int_equal(redis_url_parse("rediss+sentinel://s1/acme?tls_ca=/ca.pem", &u, &err), 0);
	assert_true(u.tls);
	assert_true(u.sentinel);
	assert_string_equal(u.sentinels[0].host, "s1");
	assert_string_equal(u.tls_ca, "/ca.pem");
	redis_url_release(&u);
	assert_int_equal(redis_url_parse("redis+sentinel://s1", &u, &err), -1);
	assert_non_null(strstr(err.msg, "name of the primary is missing"));
	assert_int_equal(redis_url_parse("redis+sentinel:///acme", &u, &err), -1);
	assert_int_equal(redis_url_parse("redis+sentinel://s1:0/acme", &u, &err), -1);
	assert_int_equal(redis_url_parse("redis://h?sentinel_password=x", &u, &err), -1);
	char *shown = url_redact("redis+sentinel://a:secret@s1/acme?sentinel_password=hidden");
	assert_null(strstr(shown, "secret"));
	assert_null(strstr(shown, "hidden"));
	free(shown);

	/* db as an option, for redis:// too */
	assert_int_equal(redis_url_parse("redis://h:7000?db=5", &u, &err), 0);
	assert_false(u.tls);
	assert_int_equal(u.db, 5);
	redis_url_release(&u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_redact_userinfo),
		cmocka_unit_test(test_redact_params),
		cmocka_unit_test(test_redis_parse),
		cmocka_unit_test(test_redis_tls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
