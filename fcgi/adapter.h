/* FCGX_Request <-> struct req / struct resp. */
#ifndef AFFTOK_FCGI_ADAPTER_H
#define AFFTOK_FCGI_ADAPTER_H

#include <fcgiapp.h>
#include <stdbool.h>

#include "http.h"

/* Copies the request into q (allocated from a). Sets *too_large when the
 * body exceeds max_body (the body is then not read). Returns 0 or -1. */
int adapter_read(FCGX_Request *fr, struct arena *a, long max_body, struct req *q, bool *too_large);
/* Writes status line, headers and body (no body for HEAD). */
void adapter_write(FCGX_Request *fr, const struct req *q, const struct resp *r);

#endif
