/* Destination macro substitution (see macro.h). */
#include "macro.h"

#include <string.h>

#include "buf.h"

void macro_expand(struct buf *out, const char *tmpl, const struct macro *vals, size_t n)
{
	const char *p = tmpl;
	while (*p) {
		const char *open = strchr(p, '{');
		if (open == NULL) {
			buf_puts(out, p);
			return;
		}
		buf_append(out, p, (size_t)(open - p));
		const char *close = strchr(open + 1, '}');
		/* A macro name never holds another brace: "{{click_id}" keeps the first. */
		const char *inner = close ? memchr(open + 1, '{', (size_t)(close - open - 1)) : NULL;
		if (close == NULL || inner) {
			buf_putc(out, '{');
			p = open + 1;
			continue;
		}
		size_t len = (size_t)(close - open - 1);
		const struct macro *m = NULL;
		for (size_t i = 0; i < n; i++)
			if (strlen(vals[i].name) == len && !memcmp(vals[i].name, open + 1, len))
				m = &vals[i];
		if (m)
			buf_urlencode(out, m->value ? m->value : "");
		else
			buf_append(out, open, len + 2);
		p = close + 1;
	}
}
