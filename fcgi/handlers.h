/* Handlers of the FastCGI front, one file per route family (h-*.c), and the
 * route table that names them (routes.c). */
#ifndef AFFTOK_FCGI_HANDLERS_H
#define AFFTOK_FCGI_HANDLERS_H

#include "http.h"
#include "router.h"

extern const struct route routes[];

/* h-health.c */
int h_health(struct req *q, struct resp *r);
int h_admin_health(struct req *q, struct resp *r);

/* h-postback.c */
int h_postback(struct req *q, struct resp *r);
int h_pixel(struct req *q, struct resp *r);
int h_admin_postbacks(struct req *q, struct resp *r);

#endif
