-- Hardening after 001-005 (applied migrations are immutable, so it comes as a new one).
--
-- 1. PostgreSQL grants EXECUTE on every new function to PUBLIC. 005 revoked it from the `api`
--    functions that existed then; a function added to `api` later would be callable by app_user
--    (and by every other role) the moment it is created. Default privileges of the roles that
--    create functions take that grant away for the future. They must be global (no IN SCHEMA):
--    a per-schema default can add privileges but cannot revoke a global default.
ALTER DEFAULT PRIVILEGES FOR ROLE claims_api REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
ALTER DEFAULT PRIVILEGES FOR ROLE claims_owner REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

-- 2. 001's `REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA app_private FROM PUBLIC` revokes nothing:
--    pgcrypto is a trusted extension, so when the (non-superuser) master user creates it, its
--    functions belong to the bootstrap superuser, and a revoke by anyone else is a no-op ("no
--    privileges could be revoked"). What keeps app_user away from pgcrypto, the signing key and
--    the verifier is the schema: nobody but claims_owner may use app_private. That is checked
--    here, so that a deploy fails rather than runs with it broken.
DO $$
DECLARE
  acl text := (SELECT coalesce(nspacl::text, '') FROM pg_namespace WHERE nspname = 'app_private');
BEGIN
  IF acl ~ '(^|[{,])=' THEN
    RAISE EXCEPTION 'PUBLIC may use schema app_private (%): revoke it', acl;
  END IF;
  IF has_schema_privilege('app_user', 'app_private', 'USAGE')
     OR has_schema_privilege('claims_api', 'app_private', 'CREATE') THEN
    RAISE EXCEPTION 'app_user may use, or claims_api create in, schema app_private (%)', acl;
  END IF;
END
$$;
