/* Forward-only schema migrations: sql/NNN_name.sql applied in order, each in
 * one transaction, recorded in schema_migrations. Safe to run twice and from
 * two hosts at once (an advisory lock serialises them). */
#ifndef AFFTOK_MIGRATE_H
#define AFFTOK_MIGRATE_H

struct db;
struct arena;

/* Returns the number applied, or -1 (the failing file is logged). */
int migrate_apply(struct db *db, struct arena *a, const char *dir);

#endif
