-- Roles and schemas of the claims database.
--
--   claims_owner  owns the tables and the private schema; cannot log in.
--   claims_api    owns the data-access functions in schema `api` (SECURITY DEFINER); cannot log
--                 in, does not own the tables and has no BYPASSRLS: every row it reads passes
--                 the Row-Level Security policies.
--   app_user      the application's login (password set by the `rdsdata.login` resource from
--                 its secret): may only call the functions in `api`. No table, no schema it can
--                 create in, no temporary tables.
--
-- The migration runs as the cluster's master user, which is not a superuser (rds_superuser on
-- Aurora, CREATEROLE/CREATEDB locally).

CREATE ROLE claims_owner NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
CREATE ROLE claims_api NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
CREATE ROLE app_user NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT CONNECTION LIMIT 50;

-- The master user becomes a member so that it can create objects as these roles.
GRANT claims_owner TO CURRENT_USER;
GRANT claims_api TO CURRENT_USER;

DO $$
BEGIN
  EXECUTE format('GRANT CREATE ON DATABASE %I TO claims_owner, claims_api', current_database());
  -- No temporary objects for anybody but the owners: a temporary function or table could
  -- shadow names in a careless search_path.
  EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
END
$$;

REVOKE ALL ON SCHEMA public FROM PUBLIC;

CREATE SCHEMA claims AUTHORIZATION claims_owner;
CREATE SCHEMA app_private AUTHORIZATION claims_owner;
CREATE SCHEMA api AUTHORIZATION claims_api;

-- HMAC for tenant tokens, in the private schema where app_user cannot call it.
CREATE EXTENSION IF NOT EXISTS pgcrypto SCHEMA app_private;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA app_private FROM PUBLIC;
