/* afftokctl sign CODE [--ttl S] [--ts UNIX] [--nonce N]: prints a signed
 * token for a link (what POST /admin/links/<id>/sign answers, for operators
 * and tests). --ts and --nonce make a token with a chosen time and nonce. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "arena.h"
#include "db.h"
#include "jobs.h"
#include "secret.h"
#include "sign.h"
#include "util.h"

int cmd_sign(struct app *app, struct arena *a, int argc, char **argv)
{
	int64_t ttl = 0, ts = -1;
	const char *nonce = NULL;
	if (argc < 2 || !sign_code_valid(argv[1], strlen(argv[1])))
		goto usage;
	for (int i = 2; i < argc; i++) {
		if (i + 1 >= argc)
			goto usage;
		if (!strcmp(argv[i], "--ttl") && parse_i64(argv[i + 1], &ttl) && ttl > 0)
			i++;
		else if (!strcmp(argv[i], "--ts") && parse_i64(argv[i + 1], &ts) && ts >= 0)
			i++;
		else if (!strcmp(argv[i], "--nonce"))
			nonce = argv[++i];
		else
			goto usage;
	}
	if (!db_ready(app->db))
		return EX_TEMPFAIL;
	PGresult *res = db_execp(app->db, a,
		"SELECT t.link_secret_enc, o.link_ttl_s FROM links l JOIN tenants t ON t.id = l.tenant_id "
		"JOIN offers o ON o.tenant_id = l.tenant_id AND o.id = l.offer_id WHERE l.code = $1", argv[1]);
	if (res == NULL)
		return EX_TEMPFAIL;
	if (PQntuples(res) != 1) {
		fprintf(stderr, "afftokctl sign: no link with code %s\n", argv[1]);
		return EX_DATAERR;
	}
	const char *enc = db_val(res, 0, 0);
	int64_t offer_ttl = atoll(db_val(res, 0, 1));
	if (ts < 0 && nonce == NULL) {
		char *tok = sign_link(app, a, enc, argv[1], offer_ttl, ttl, now_ms() / 1000);
		if (tok == NULL)
			return EX_SOFTWARE;
		printf("%s\n", tok);
		return EX_OK;
	}
	unsigned char *key;
	int klen = secret_decrypt(&app->mk, a, enc, &key);
	if (klen <= 0)
		return EX_SOFTWARE;
	if (ts < 0)
		ts = now_ms() / 1000;
	if (nonce == NULL)
		nonce = "nonce-fixed-0001";
	char sig[SIGN_SIG_LEN + 1];
	sign_compute(key, (size_t)klen, argv[1], ts, nonce, sig);
	printf("%s.%lld.%s.%s\n", argv[1], (long long)ts, nonce, sig);
	return EX_OK;
usage:
	fprintf(stderr, "usage: afftokctl sign CODE [--ttl SECONDS] [--ts UNIX] [--nonce NONCE]\n");
	return EX_USAGE;
}
