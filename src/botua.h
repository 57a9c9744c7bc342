/* Known crawler user agents: the patterns of the npm package
 * crawler-user-agents (a JSON list of {"pattern": PCRE, ...}) plus a few
 * built-in generic ones, compiled once per process with PCRE2 JIT.
 *
 * Matching 1,500 patterns one by one would cost far more than the 5 us a
 * click may spend on quality checks, so each pattern is indexed by its
 * longest required literal (nearly all patterns are plain words such as
 * "bingbot"): a pass over the user agent looks its 3-byte grams up in a
 * small hash table, compares the candidate literals and runs the regex only
 * of patterns whose literal occurs. Patterns without a usable literal are
 * joined into one alternation that always runs. */
#ifndef AFFTOK_BOTUA_H
#define AFFTOK_BOTUA_H

#include <stdbool.h>
#include <stddef.h>

struct botua;

/* Loads crawler-user-agents.json from path (NULL or "" = built-in patterns
 * only). NULL with a message in err when the file cannot be read or a
 * pattern does not compile. */
struct botua *botua_new(const char *path, char *err, size_t errlen);
void botua_free(struct botua *m);
/* Index of the first matching pattern (its text through botua_pattern), or
 * -1 when none matches. */
int botua_match(const struct botua *m, const char *ua, size_t len);
const char *botua_pattern(const struct botua *m, int idx);
/* Patterns loaded, and how many could not be indexed (always-run). */
size_t botua_count(const struct botua *m, size_t *residual);

#endif
