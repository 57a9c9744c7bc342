/* Fuzz target: request bodies (req_parse_body) as the admin API and the
 * postback receive them: JSON, form, or anything else. A JSON body is
 * accepted only when it is one complete value; form fields are NUL-free. */
#include "fuzz.h"

#include <json-c/json.h>
#include <strings.h>

#include "arena.h"
#include "http.h"

static const char *types[] = {"application/json", "application/x-www-form-urlencoded",
			      "Application/JSON;charset=utf-8", "text/plain", NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *ct = types[data[0] % 5];
	data++, size--;
	char *body = malloc(size ? size : 1);
	FUZZ_CHECK(body != NULL);
	memcpy(body, data, size);
	struct arena *a = arena_new(1024);
	FUZZ_CHECK(a != NULL);
	struct req q = {.arena = a, .content_type = ct, .body = body, .body_len = size};
	int rc = req_parse_body(&q);
	if (rc == 0 && q.json != NULL) {
		FUZZ_CHECK(ct != NULL && !strncasecmp(ct, "application/json", 16));
		/* What was accepted serialises, and the serialisation parses back. */
		const char *s = json_object_to_json_string_ext(q.json, JSON_C_TO_STRING_PLAIN);
		FUZZ_CHECK(s != NULL);
		struct json_object *back = json_tokener_parse(s);
		FUZZ_CHECK(back != NULL || json_object_get_type(q.json) == json_type_null);
		json_object_put(back);
	}
	if (rc == 0)
		for (size_t i = 0; i < q.nparams; i++)
			FUZZ_CHECK(strlen(q.params[i].name) + strlen(q.params[i].value) <= size);
	arena_free(a);
	free(body);
	return 0;
}
