/* Admin resources described as tables of fields, so every /admin collection
 * gets the same validation, JSON shape, tenant scoping and pagination.
 *
 * How to add a collection (see fcgi/h-admin-*.c for examples):
 *
 *   static const struct field widget_fields[] = {
 *       {.name = "id", .type = F_ID, .flags = FF_READONLY},
 *       {.name = "offer_id", .type = F_ID, .flags = FF_REQUIRED | FF_FIXED | FF_FILTER, .ref = "offers"},
 *       {.name = "name", .type = F_STR, .flags = FF_REQUIRED, .max = 200},
 *       {.name = "mode", .type = F_ENUM, .flags = 0, .choices = "allow|block"},
 *       {.name = "limits.daily", .type = F_INT, .flags = FF_NULLABLE, .column = "daily_limit", .min = 1, .max
 * = 1000000},
 *       {.name = "created_at", .type = F_TIME, .flags = FF_READONLY},
 *       {.name = NULL},
 *   };
 *   static const struct resource widgets = {
 *       .name = "widget", .table = "widgets", .fields = widget_fields,
 *       .soft_delete = true,
 *   };
 *   int h_admin_widgets(struct req *q, struct resp *r) { return resource_handle(q, r, &widgets); }
 *
 * and two route entries in fcgi/routes.c, "/admin/widgets" and "/admin/widgets/ *"
 * (no space), with RESOURCE_PARAMS (plus ?<field>= for FF_FILTER fields) and the
 * R_RL_ADMIN flag. resource_handle() then answers:
 *   GET    /admin/widgets?limit=&cursor=  {"data":[...],"next_cursor":"..."|null}
 *   POST   /admin/widgets                 201 + the whole object
 *   GET    /admin/widgets/<id>            200, or 404 (missing and foreign alike)
 *   PATCH  /admin/widgets/<id>            200 + the object
 *   DELETE /admin/widgets/<id>            soft_delete: status = 'archived', 200 + object;
 *                                         otherwise the row goes, 204
 * Rules it applies: a body must be a JSON object; every member is checked by
 * its field (400 INVALID_PARAMETER naming it); unknown and read-only members
 * are refused; FF_REQUIRED members must be there on create; FF_FIXED ones
 * cannot be PATCHed; F_ID fields with .ref must name a row of the caller's
 * tenant (a foreign or missing id answers 404 naming the field). Dotted names ("payout.type") map a
 * member of a nested object to its own column. Every statement runs in a
 * tenant scope (src/tenantdb.h), so RLS holds even if a filter were wrong.
 * The table must have columns id (bigint identity), the tenant column
 * (tenant_id) and updated_at (unless .no_updated_at); with soft_delete, status.
 * Unique violations answer 409 CONFLICT. Every change is written to the
 * admin_audit table in the same transaction (resource_audit()). */
#ifndef AFFTOK_RESOURCE_H
#define AFFTOK_RESOURCE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "http.h"
#include "router.h"

struct json_object;

enum field_type {
	F_ID,        /* positive bigint; with .ref it must be a row of the same tenant */
	F_INT,       /* JSON integer in [min, max] */
	F_BOOL,      /* true/false */
	F_STR,       /* string of min..max characters (max 0 = 200), no control characters */
	F_URL,       /* http:// or https:// URL up to max (0 = 2048) characters */
	F_ENUM,      /* one of .choices, "a|b|c" */
	F_DECIMAL,   /* exact non-negative decimal, a JSON string "2.50" (or an integer); 12.6 digits */
	F_CURRENCY,  /* ISO 4217 code, ^[A-Z]{3}$ */
	F_COUNTRIES, /* array of ISO 3166 alpha-2 codes (^[A-Z]{2}$), 1..max (0 = 300) -> text[] */
	F_STRINGS,   /* array of strings (of .choices when set), 1..max (0 = 50) items -> text[] */
	F_JSON,      /* any JSON value, checked by .check -> jsonb */
	F_TIME,      /* timestamptz, output only, ISO 8601 UTC */
};

enum field_flags {
	FF_REQUIRED = 1, /* must be present on create */
	FF_READONLY = 2, /* output only; refused in bodies */
	FF_NULLABLE = 4, /* JSON null stores SQL NULL (and PATCH can clear it) */
	FF_FIXED = 8,    /* set on create only; refused by PATCH */
	FF_FILTER = 16,  /* the list accepts ?<name>=<value> (declare it in the route params) */
	FF_HIDDEN = 32,  /* written but never shown (secrets are better not stored in clear at all) */
};

struct field {
	const char *name; /* JSON name; "a.b" is member b of object a */
	enum field_type type;
	unsigned flags;
	const char *column;  /* SQL column; NULL = name */
	long long min, max;  /* F_INT value bounds; F_STR/F_URL length; arrays: max items */
	const char *choices; /* F_ENUM, F_STRINGS: "a|b|c" */
	const char *ref;     /* F_ID: table whose id (same tenant) this must name */
	/* Optional extra check of the JSON value: 0, or -1 with a message in err
	 * (shown as "field '<name>' <err>"). Required for F_JSON. */
	int (*check)(struct json_object *v, char *err, size_t errlen);
};

#define RVALS_MAX 48

/* Column values for an INSERT or UPDATE; value NULL = SQL NULL. Values are
 * text in PostgreSQL input syntax (arrays "{...}", jsonb text, "true"). */
struct rvals {
	int n;
	struct {
		const char *column;
		const char *value;
		const struct field *field; /* NULL for columns the server adds */
	} v[RVALS_MAX];
};

struct resource {
	const char *name; /* singular, for messages: "offer" */
	const char *table;
	const struct field *fields; /* ends with name == NULL */
	const char *tenant_col;     /* NULL = "tenant_id" */
	/* An advertiser/affiliate key sees only rows whose column holds its own
	 * id; NULL = such keys see nothing here (the route should refuse them). */
	const char *advertiser_col;
	const char *affiliate_col;
	bool soft_delete;   /* DELETE sets status = 'archived' */
	bool no_updated_at; /* the table has no updated_at column */
	bool bump_cache;    /* the click path caches these rows: bump after changes */
	/* Optional: add server-made columns before an INSERT (runs inside the
	 * tenant scope). 0, or -1 after answering r. */
	int (*before_insert)(struct req *q, struct resp *r, struct rvals *v);
	/* Optional: add computed members to the JSON of one row. */
	void (*decorate)(struct req *q, struct json_object *row);
};

/* Route parameters every collection accepts (limit, cursor). Routes with
 * filters declare their own array: {"limit", P_INT}, {"cursor", P_TOKEN}, ... */
extern const struct route_param resource_params[];
#define RESOURCE_LIMIT_MAX 200
#define RESOURCE_LIMIT_DEFAULT 50

/* The whole collection; q->args[0] is the id for "/admin/x/ *" routes. */
int resource_handle(struct req *q, struct resp *r, const struct resource *res);
/* Reads ?limit= (1..RESOURCE_LIMIT_MAX, default RESOURCE_LIMIT_DEFAULT) and
 * ?cursor= for any paginated list; -1 after answering 400. */
int resource_page(struct req *q, struct resp *r, long long *limit, const char **cursor);

/* --- building blocks, for handlers that do more than plain CRUD --- */

/* Validates a JSON body against the fields (no database): fills out with
 * column values. patch: FF_REQUIRED not enforced, FF_FIXED refused.
 * Returns 0, or -1 with "field 'x' ..." in err. */
int resource_parse(const struct resource *res, struct json_object *body, bool patch, struct arena *a,
                   struct rvals *out, char *err, size_t errlen);
/* Checks one JSON value against one field; on success *text is its SQL text
 * (NULL for JSON null). Returns 0, or -1 with a message (without the field
 * name) in err. */
int field_value(const struct field *f, struct json_object *v, struct arena *a, const char **text, char *err,
                size_t errlen);
int rvals_add(struct rvals *v, const char *column, const char *value);
/* The row as JSON (fields not FF_HIDDEN, nested by dotted names), decorated. */
struct json_object *resource_row_json(struct req *q, const struct resource *res, const PGresult *pr, int row);
/* Reads one row the caller may see, inside the caller's tenant scope.
 * Returns the result (0 or 1 row) or NULL on a database error. */
PGresult *resource_fetch(struct req *q, const struct resource *res, const char *id);
/* Checks that every F_ID value with a .ref names a row of the caller's
 * tenant. 0 = all good, 1 = answered (404, or 409/400 from the database),
 * -1 = database error. */
int resource_check_refs(struct req *q, struct resp *r, const struct rvals *v);
/* Records an admin change in admin_audit: action (create, update, delete,
 * rotate, revoke, secret), resource (the table), the row id, and the names
 * of the fields the request set (v may be NULL), never their values. Run
 * it inside the tenant scope of the change so both commit together;
 * resource_handle() does this itself. tenant_id 0 = the caller's tenant.
 * Returns 0, or -1 on a database error. */
int resource_audit(struct req *q, const char *action, const char *resource, long long tenant_id,
                   const char *id, const struct rvals *v);
/* Answers a failed statement: 409 for unique/foreign-key conflicts, 400 for
 * bad values, else -1 (the dispatcher answers 500). */
int resource_db_error(struct req *q, struct resp *r);
/* Ids in paths are positive decimal integers; anything else is "not found". */
bool resource_id_valid(const char *id);

#endif
