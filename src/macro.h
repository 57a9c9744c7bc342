/* Destination URL macros (SPEC section 2): {click_id}, {sub1}..{sub5},
 * {offer_id}, {affiliate_id}, {link_code}, {country}, {device}, {ts}.
 * Values are URL-encoded; unknown macros are left as they are. */
#ifndef AFFTOK_MACRO_H
#define AFFTOK_MACRO_H

#include <stddef.h>

struct buf;

struct macro {
	const char *name;  /* without braces */
	const char *value; /* NULL = empty */
};

/* Appends tmpl to out with every {name} of vals replaced by its encoded value. */
void macro_expand(struct buf *out, const char *tmpl, const struct macro *vals, size_t n);

#endif
