-- The ingest's fast path: COPY straight into a day partition. COPY cannot
-- write a table under row-level security, and the partitions force it
-- (098), so the ingest stages its rows in a temporary table and copies them
-- over with INSERT ... SELECT, row by row. COPY into the partition inserts
-- a page of rows at a time: in psql, two sessions storing 56,000 clicks
-- each took 620-730 ms that way against 920-1,410 ms staged.
--
-- A role with BYPASSRLS may COPY. Only a superuser can create one, so it
-- is an install step (docs/DEPLOY.md), and optional:
--     CREATE ROLE afftok_loader NOLOGIN BYPASSRLS;
--     GRANT afftok_loader TO afftok;
-- The ingest switches to it (SET LOCAL ROLE) for its COPY only. The role
-- attribute is not inherited by afftok's other sessions, which stay under
-- row-level security. Without the role the ingest stages as before.
--
-- afftok_loader_ready(day partition): whether this session may use it for
-- that partition, granting the role INSERT on it (the partition's owner,
-- the role that created it, can) when it lacks it.
CREATE FUNCTION afftok_loader_ready(part text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF to_regclass(part) IS NULL
       OR NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'afftok_loader' AND rolbypassrls)
       OR NOT pg_has_role(current_user, 'afftok_loader', 'MEMBER') THEN
        RETURN false;
    END IF;
    IF NOT has_table_privilege('afftok_loader', part, 'INSERT') THEN
        EXECUTE format('GRANT INSERT ON %s TO afftok_loader', to_regclass(part));
    END IF;
    RETURN true;
EXCEPTION WHEN insufficient_privilege THEN
    RETURN false;
END $$;
