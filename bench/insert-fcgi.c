/* The baseline of bench/postback.sh: the least a FastCGI postback endpoint
 * can do. Per request one synchronous INSERT of the query string's click_id
 * and amount into bench_insert (PQexecParams, one round trip, autocommit),
 * then a small JSON answer. No parsing rules, no lookup, no auth.
 *   insert-fcgi CONNINFO      (run under spawn-fcgi) */
#include <fcgiapp.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void param(const char *qs, const char *name, char *out, size_t cap)
{
	size_t n = strlen(name);
	out[0] = '\0';
	for (const char *p = qs; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
		if (!strncmp(p, name, n) && p[n] == '=') {
			size_t l = strcspn(p + n + 1, "&");
			if (l >= cap)
				l = cap - 1;
			memcpy(out, p + n + 1, l);
			out[l] = '\0';
			return;
		}
	}
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 64;
	PGconn *db = PQconnectdb(argv[1]);
	if (PQstatus(db) != CONNECTION_OK)
		return 1;
	FCGX_Init();
	FCGX_Request r;
	FCGX_InitRequest(&r, 0, 0);
	while (FCGX_Accept_r(&r) >= 0) {
		const char *qs = FCGX_GetParam("QUERY_STRING", r.envp);
		char click[64], amount[32];
		param(qs, "click_id", click, sizeof click);
		param(qs, "amount", amount, sizeof amount);
		const char *v[2] = {click, amount[0] ? amount : NULL};
		PGresult *res = PQexecParams(db, "INSERT INTO bench_insert (click_id, amount) VALUES ($1, $2)",
					     2, NULL, v, NULL, NULL, 0);
		int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
		PQclear(res);
		FCGX_FPrintF(r.out, "Status: %s\r\nContent-Type: application/json\r\n\r\n{\"status\":\"%s\"}\n",
			     ok ? "200 OK" : "503 Unavailable", ok ? "recorded" : "error");
		FCGX_Finish_r(&r);
	}
	return 0;
}
